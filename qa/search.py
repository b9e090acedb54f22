"""Answer a question with the most relevant passages and their exact citations."""

from __future__ import annotations

import time
from dataclasses import dataclass

from qa.chunk import Chunk
from qa.embed import Embedder
from qa.index import Index, StoredDocument


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


def _fingerprint(text: str) -> str:
    return " ".join(text.split()).casefold()


def search(embedder: Embedder, index: Index, question: str, top_k: int) -> Answer:
    """The ``top_k`` best passages for ``question``, best first, without duplicate texts."""
    started = time.perf_counter()
    query = embedder.encode_queries([question])[0]
    # Ask for a few more than needed so that skipped duplicates do not shorten the list.
    candidates = index.search(query, top_k + min(top_k, 10))
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
