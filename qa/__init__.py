"""Multilingual retrieval question answering with exact citations.

Pipeline, one module per step: ``ingest`` -> ``chunk`` -> ``embed`` -> ``index`` ->
``search`` -> ``api`` (HTTP) and ``cli`` (command line).
"""

__version__ = "0.1.0"
