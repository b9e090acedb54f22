"""Step 6: the index — the loaded state (:mod:`state`) and what a query reads of it
(:mod:`view`), passages and sentences as columns (:mod:`tables`), BM25 postings
(:mod:`lexical`), and the plan of a write (:mod:`planner`)."""

from qa.index.planner import Precondition, WriteResult, unknown_document
from qa.index.state import Index, Selection
from qa.index.terms import corpus_language
from qa.index.view import IndexView

__all__ = [
    "Index",
    "IndexView",
    "Precondition",
    "Selection",
    "WriteResult",
    "corpus_language",
    "unknown_document",
]
