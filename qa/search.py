"""Answer a question with the most relevant passages and their exact citations.

A *retriever* ranks the rows of an :class:`~qa.index.Index` for a question; ``search``
turns that ranking into cited hits. Methods:

* ``dense`` — cosine between the question's and the passages' embeddings (FAISS);
* ``bm25`` — BM25 over stemmed passage words (Portuguese by default).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from qa.chunk import Chunk
from qa.embed import Embedder
from qa.index import Index, StoredDocument
from qa.lexical import BM25Index


@dataclass(frozen=True)
class Hit:
    rank: int
    score: float
    chunk: Chunk
    document: StoredDocument


@dataclass(frozen=True)
class Answer:
    question: str
    hits: list[Hit]
    took_ms: float


class Retriever(Protocol):
    method: str

    def retrieve(self, question: str, k: int) -> list[tuple[int, float]]:
        """Rows of the index and their scores, best first."""
        ...


class DenseRetriever:
    method = "dense"

    def __init__(self, embedder: Embedder, index: Index) -> None:
        self.embedder, self.index = embedder, index

    def retrieve(self, question: str, k: int) -> list[tuple[int, float]]:
        return self.index.search(self.embedder.encode_queries([question])[0], k)


class LexicalRetriever:
    method = "bm25"

    def __init__(self, index: Index, language: str = "portuguese") -> None:
        self.bm25 = BM25Index([c.text for c in index.chunks], language)

    def retrieve(self, question: str, k: int) -> list[tuple[int, float]]:
        return self.bm25.search(question, k)


RETRIEVERS: dict[str, Callable[[Embedder, Index, str], Retriever]] = {
    "dense": lambda embedder, index, language: DenseRetriever(embedder, index),
    "bm25": lambda embedder, index, language: LexicalRetriever(index, language),
}
METHODS = tuple(RETRIEVERS)


def make_retriever(
    method: str, embedder: Embedder, index: Index, language: str = "portuguese"
) -> Retriever:
    if method not in RETRIEVERS:
        raise ValueError(f"unknown retrieval method {method!r}; choose one of {', '.join(METHODS)}")
    return RETRIEVERS[method](embedder, index, language)


def _fingerprint(text: str) -> str:
    return " ".join(text.split()).casefold()


def search(retriever: Retriever, index: Index, question: str, top_k: int) -> Answer:
    """The ``top_k`` best passages for ``question``, best first, without duplicate texts."""
    started = time.perf_counter()
    # Ask for a few more than needed so that skipped duplicates do not shorten the list.
    candidates = retriever.retrieve(question, top_k + min(top_k, 10))
    hits: list[Hit] = []
    seen: set[str] = set()
    for row, score in candidates:
        chunk = index.chunks[row]
        key = _fingerprint(chunk.text)
        if key in seen:
            continue
        seen.add(key)
        hits.append(Hit(len(hits) + 1, score, chunk, index.documents[chunk.doc_id]))
        if len(hits) == top_k:
            break
    return Answer(question, hits, (time.perf_counter() - started) * 1000)
