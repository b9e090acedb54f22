"""The second encoder's passage vectors of a loaded index, by passage id."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class CompanionVectors:
    """Float16 rows addressed by passage id (ids are dense and never reused: the matrix
    grows by doubling; a removed passage's row is zeroed). The retriever reads the rows of
    a few hundred candidates per question, so no index structure is needed."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.matrix = np.zeros((0, dim), dtype=np.float16)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if not len(ids):
            return
        top = int(ids.max()) + 1
        if top > len(self.matrix):
            grown = np.zeros((max(top, 2 * len(self.matrix)), self.dim), dtype=np.float16)
            grown[: len(self.matrix)] = self.matrix
            self.matrix = grown
        self.matrix[ids] = vectors

    def remove(self, ids: Sequence[int]) -> None:
        ids = [i for i in ids if i < len(self.matrix)]
        self.matrix[ids] = 0

    def of(self, ids: Sequence[int]) -> np.ndarray:
        """The rows of ``ids`` as float32."""
        return self.matrix[np.asarray(ids, dtype=np.int64)].astype(np.float32)
