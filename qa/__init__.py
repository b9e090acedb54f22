"""Multilingual retrieval question answering with exact citations.

The pipeline, one subpackage per step, each importing only those before it: ``ingest`` ->
``chunk`` -> ``embed`` -> ``store`` -> ``vectors`` -> ``index`` -> ``search``, then the
``service`` that ``api`` (HTTP), ``cli`` (the ``qa`` command) and ``eval`` call.
"""

__version__ = "0.1.0"
