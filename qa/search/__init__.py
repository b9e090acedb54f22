"""Step 7: answer a question with the most relevant passages, exact citations and
highlights (retrievers, fusion, translation, duplicate suppression)."""

from qa.search.results import Hit, SearchResult, near_duplicate, search
from qa.search.retrievers import (
    METHODS,
    DenseRetriever,
    HybridRetriever,
    LexicalRetriever,
    QueryModels,
    Retriever,
    make_retriever,
)

__all__ = [
    "METHODS",
    "DenseRetriever",
    "Hit",
    "HybridRetriever",
    "LexicalRetriever",
    "QueryModels",
    "Retriever",
    "SearchResult",
    "make_retriever",
    "near_duplicate",
    "search",
]
