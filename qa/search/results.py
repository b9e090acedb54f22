"""The answer to a query: the best passages, never two near-duplicates, each with its
document and highlight."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import numpy as np

from qa.chunk import Chunk
from qa.index import IndexView
from qa.search.retrievers import QueryForms, Retriever
from qa.store import Filters, StoredDocument

_WORD = re.compile(r"\w+")
NEAR_DUPLICATE = 0.8  # word-set Jaccard similarity at which two passages count as one


@dataclass(frozen=True)
class Hit:
    rank: int
    score: float
    chunk: Chunk
    document: StoredDocument
    highlight: tuple[int, int]  # document offsets of the passage's best sentence
    row: int = -1  # the passage's id in the index


@dataclass(frozen=True)
class SearchResult:
    question: str
    hits: list[Hit]
    took_ms: float
    vectors: np.ndarray | None = None  # the question's embeddings, when the retriever made them
    forms: QueryForms | None = None  # the question's language and forms (hybrid)
    embed_ms: float = 0.0  # of ``took_ms``, the time spent embedding the question
    # with no filter: each query vector's nearest passages (the retriever's, reused)
    nearest: tuple[list[tuple[int, float]], ...] | None = None


def _words(text: str) -> frozenset[str]:
    return frozenset(w.casefold() for w in _WORD.findall(text))


def near_duplicate(a: frozenset[str], b: frozenset[str]) -> bool:
    if not a or not b:
        return a == b
    return len(a & b) / len(a | b) >= NEAR_DUPLICATE


def search(
    retriever: Retriever,
    index: IndexView,
    question: str,
    top_k: int,
    filters: Filters | None = None,
) -> SearchResult:
    """The ``top_k`` best passages of ``index`` for ``question``, best first, never two
    near-duplicates; with ``filters``, only passages of the documents they accept (chosen
    before the cut)."""
    started = time.perf_counter()
    selection = index.select(filters)
    # Ask for a few more than needed so that skipped duplicates do not shorten the list.
    ranking = retriever.retrieve(index, question, top_k + min(top_k, 10), selection)
    hits: list[Hit] = []
    kept: list[frozenset[str]] = []
    for row, score in ranking.candidates:
        chunk = index.chunks[row]
        words = _words(chunk.text)
        if any(near_duplicate(words, other) for other in kept):
            continue
        kept.append(words)
        document = index.documents[chunk.doc_id]
        hits.append(Hit(len(hits) + 1, score, chunk, document, ranking.highlight(row), row))
        if len(hits) == top_k:
            break
    took = (time.perf_counter() - started) * 1000
    return SearchResult(
        question, hits, took, ranking.vectors, ranking.forms, ranking.embed_ms, ranking.nearest
    )
