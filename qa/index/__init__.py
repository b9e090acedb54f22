"""Step 6: the index — the loaded state (:mod:`state`), BM25 postings (:mod:`lexical`), and
writes as plan (:mod:`planner`) → persist → publish (:mod:`collection`)."""

from qa.index.collection import Collection, corpus_language
from qa.index.planner import WriteResult, unknown_document
from qa.index.state import Index, Selection
from qa.index.view import IndexView

__all__ = [
    "Collection",
    "Index",
    "IndexView",
    "Selection",
    "WriteResult",
    "corpus_language",
    "unknown_document",
]
