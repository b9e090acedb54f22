"""Vectors in blocks, each row under an id: the storage of the exact FAISS kinds.

A block is a segment's vectors file, read where it lies (:class:`~qa.store.ondisk.FileVectors`:
the process reads the rows it needs), or the rows written in this process (appended to one
growing array). Rows never move: a removed row is only marked dead, so the row numbers
codes refer to stay valid until the codes are rebuilt.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qa.store.ondisk import FileVectors

# Rows gathered at a time when every vector is read (coding, exact scans).
BATCH = 65_536


class _Gone:
    """A block whose rows are all dead: read as zeros, holds nothing."""

    def __init__(self, rows: int, dim: int) -> None:
        self.shape = (rows, dim)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: slice | np.ndarray) -> np.ndarray:
        count = len(range(*key.indices(self.shape[0]))) if isinstance(key, slice) else len(key)
        return np.zeros((count, self.shape[1]), dtype=np.float32)


class VectorRows:
    """Rows of vectors in blocks (see the module docstring)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.blocks: list[Any] = []  # FileVectors or float32 arrays
        self.starts = np.zeros(1, dtype=np.int64)  # first row of each block, then the end
        self.tail = np.zeros((0, dim), dtype=np.float32)  # rows written here
        self.tail_size = 0
        self.tail_last = False  # whether the tail is the last block (then it grows)
        self.ids = np.zeros(0, dtype=np.int64)  # id of each row (−1: dead from the start)
        self.live = np.zeros(0, dtype=bool)
        self.row_of = np.zeros(0, dtype=np.int64)  # id -> row (−1: none)
        self.count = 0

    @property
    def size(self) -> int:
        """Rows, dead ones included."""
        return int(self.starts[-1])

    def add(self, ids: np.ndarray, block: Any, rows: np.ndarray | None = None) -> np.ndarray:
        """Rows ``rows`` of ``block`` (``None``: all) under ``ids``; a block on disk is
        kept as it is, other vectors are copied into the tail. An id held already
        moves to its new row. Returns the new rows of ``ids``."""
        ids = np.asarray(ids, dtype=np.int64)
        self.remove(ids)
        first = self.size
        if isinstance(block, FileVectors):
            self.blocks.append(block)
            self.starts = np.append(self.starts, first + len(block))
            self.tail_last = False
            row_ids = ids if rows is None else np.full(len(block), -1, dtype=np.int64)
            if rows is not None:
                row_ids[rows] = ids
            new_rows = first + (np.arange(len(block)) if rows is None else rows)
        else:
            vectors = np.ascontiguousarray(block if rows is None else block[rows], dtype=np.float32)
            if not self.tail_last:
                self.tail, self.tail_size, self.tail_last = self.tail[:0], 0, True
                self.blocks.append(self.tail)
                self.starts = np.append(self.starts, first)
            self._append_tail(vectors)
            self.blocks[-1] = self.tail[: self.tail_size]
            self.starts[-1] = first + len(vectors)
            row_ids, new_rows = ids, first + np.arange(len(vectors))
        self.ids = np.concatenate([self.ids, row_ids])
        self.live = np.concatenate([self.live, row_ids >= 0])
        if len(ids) and int(ids.max()) >= len(self.row_of):
            grown = np.full(max(int(ids.max()) + 1, 2 * len(self.row_of)), -1, dtype=np.int64)
            grown[: len(self.row_of)] = self.row_of
            self.row_of = grown
        self.row_of[ids] = new_rows
        self.count += len(ids)
        return np.asarray(new_rows, dtype=np.int64)

    def _append_tail(self, vectors: np.ndarray) -> None:
        end = self.tail_size + len(vectors)
        if end > len(self.tail):
            grown = np.zeros((max(end, 2 * len(self.tail), 1024), self.dim), dtype=np.float32)
            grown[: self.tail_size] = self.tail[: self.tail_size]
            self.tail = grown
        self.tail[self.tail_size : end] = vectors
        self.tail_size = end

    def remove(self, ids: np.ndarray) -> np.ndarray:
        """Mark the rows of ``ids`` dead (unknown ids ignored); returns those rows."""
        ids = np.asarray(ids, dtype=np.int64)
        ids = ids[(ids >= 0) & (ids < len(self.row_of))]
        rows = self.row_of[ids]
        rows = np.unique(rows[rows >= 0])
        self.live[rows] = False
        self.row_of[self.ids[rows]] = -1
        self.count -= len(rows)
        for b in np.unique(np.searchsorted(self.starts, rows, side="right") - 1).tolist():
            start, end = int(self.starts[b]), int(self.starts[b + 1])
            if isinstance(self.blocks[b], FileVectors) and not self.live[start:end].any():
                # every row of a segment's file dead: let the file go (a merge or a
                # deletion may remove it from the disk)
                self.blocks[b] = _Gone(end - start, self.dim)
        return rows

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """The rows of ``ids`` (−1 for ids not held)."""
        ids = np.asarray(ids, dtype=np.int64)
        out = np.full(len(ids), -1, dtype=np.int64)
        inside = (ids >= 0) & (ids < len(self.row_of))
        out[inside] = self.row_of[ids[inside]]
        return out

    def live_rows(self) -> np.ndarray:
        return np.flatnonzero(self.live)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The vectors of ``rows``, one each, in that order (float32)."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        if not len(rows):
            return out
        if len(self.blocks) == 1:
            out[:] = self.blocks[0][rows]
            return out
        which = np.searchsorted(self.starts, rows, side="right") - 1
        order = np.argsort(which, kind="stable")
        bounds = np.searchsorted(which[order], np.arange(len(self.blocks) + 1)).tolist()
        for b in range(len(self.blocks)):
            if bounds[b] < bounds[b + 1]:
                at = order[bounds[b] : bounds[b + 1]]
                out[at] = self.blocks[b][rows[at] - self.starts[b]]
        return out
