"""Which sentence of a passage best answers the question: the highlight of each result."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet

import numpy as np

from qa.index import IndexView


def best_sentence(
    index: IndexView, row: int, score: Callable[[list[int]], Sequence[float]]
) -> tuple[int, int]:
    """Span of the passage's highest-scoring sentence (the whole passage if it has none)."""
    ids = index.chunk_sentences[row]
    if not ids:
        chunk = index.chunks[row]
        return chunk.char_start, chunk.char_end
    best = index.sentences[ids[int(np.argmax(score(ids)))]]
    return best.char_start, best.char_end


def best_sentence_by_vectors(index: IndexView, row: int, queries: np.ndarray) -> tuple[int, int]:
    """Span of the passage's sentence closest to any of the query vectors."""
    return best_sentence(
        index, row, lambda ids: (index.vectors_of("sentences", ids) @ queries.T).max(axis=1)
    )


def best_sentence_by_terms(
    index: IndexView,
    row: int,
    terms: AbstractSet[str],
    sentence_terms: Callable[[int], AbstractSet[str]],
) -> tuple[int, int]:
    """Span of the passage's sentence sharing the most stemmed terms with the question."""
    return best_sentence(index, row, lambda ids: [len(terms & sentence_terms(i)) for i in ids])
