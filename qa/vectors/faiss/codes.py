"""Short codes of a flat store's vectors, scanned with SIMD table lookups (FAISS fast-scan)
in shards, each on its own thread; the best estimates are re-scored exactly.

``pq``: 4-bit product quantisation after a random rotation (one sub-quantizer per two
dimensions: 96 bytes for 384 dimensions; ``IndexPQFastScan``). ``rabitq``: 1-bit RaBitQ
codes (48 bytes and their correction factors; ``IndexRaBitQFastScan``). Codes are built
from the stored vectors, never saved (seconds per million).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import faiss
import numpy as np

# Below this many vectors there are no codes: an exact scan is as fast.
CODES_MIN = 1000
# pq: vectors sampled to train the sub-quantizers (FAISS uses 256 per centroid at most)
PQ_TRAIN = 16 * 256
# The codes are split into shards scanned (and their candidates re-scored) in parallel, one
# thread each: at most one per CPU core (4 at most), each of at least SHARD_MIN codes.
SCAN_THREADS = max(1, min(os.cpu_count() or 1, 4))
SHARD_MIN = 25_000


_scan_pool: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """The threads scanning code shards beside the calling one (made on first use)."""
    global _scan_pool
    if _scan_pool is None:
        _scan_pool = ThreadPoolExecutor(max(SCAN_THREADS - 1, 1), thread_name_prefix="qa-scan")
    return _scan_pool


def code_index(kind: str, vectors: np.ndarray) -> faiss.Index:
    """An empty fast-scan code index of ``kind`` (pq or rabitq), trained on ``vectors``."""
    dim = vectors.shape[1]
    if kind == "pq":
        # one 4-bit sub-quantizer per two dimensions, after a random rotation (which
        # spreads the variance evenly over them)
        index = faiss.index_factory(
            dim, f"RR{dim},PQ{dim // 2 if dim % 2 == 0 else dim}x4fs", faiss.METRIC_INNER_PRODUCT
        )
        rng = np.random.default_rng(1234)
        sample = vectors[np.sort(rng.choice(len(vectors), min(len(vectors), PQ_TRAIN), False))]
        index.train(np.resize(sample, (max(len(sample), 16), dim)))  # k-means: ≥ 16 points
    else:
        index = faiss.IndexRaBitQFastScan(dim, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)  # the centre: the mean of the vectors
    return index


class CodeScan:
    """Codes of the rows of a flat store, in shards scanned in parallel.

    ``rows[i]`` is the store row of code ``i`` (codes are numbered across the shards in
    order), −1 once its vector is removed; removing rows from the store shifts the later
    ones down (FAISS keeps the order), and :meth:`remove_rows` follows."""

    def __init__(self, kind: str, vectors: np.ndarray, shards: int) -> None:
        trained = faiss.serialize_index(code_index(kind, vectors))
        self.shards: list[faiss.Index] = []
        for part in np.array_split(vectors, shards):
            shard = faiss.deserialize_index(trained)  # the same training in every shard
            shard.add(part)
            self.shards.append(shard)
        self.rows = np.arange(len(vectors), dtype=np.int64)
        self.dead = 0

    @property
    def ntotal(self) -> int:
        return len(self.rows)

    def add(self, vectors: np.ndarray, first_row: int) -> None:
        """Code ``vectors``, stored from row ``first_row`` on, in the last shard."""
        self.shards[-1].add(vectors)
        self.rows = np.concatenate([self.rows, np.arange(first_row, first_row + len(vectors))])

    def balanced(self) -> bool:
        """Whether the last shard (which takes every added vector) is still at most
        twice the first."""
        return self.shards[-1].ntotal <= 2 * self.shards[0].ntotal

    def remove_rows(self, removed: np.ndarray) -> None:
        """The store dropped ``removed`` rows (sorted): their codes die, later rows shift."""
        if not len(removed):
            return
        at = np.searchsorted(removed, self.rows)
        hit = removed[np.minimum(at, len(removed) - 1)] == self.rows
        self.rows = np.where((self.rows < 0) | hit, -1, self.rows - at)
        self.dead = int((self.rows < 0).sum())

    def search(
        self, q: np.ndarray, k: int, candidates: int, store: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Store rows and exact scores of the ``k`` best of each shard's best
        ``candidates / shards`` estimates (removed ones skipped), best first."""
        per = math.ceil(max(candidates, k) / len(self.shards))
        starts = np.cumsum([0] + [s.ntotal for s in self.shards])

        def scan(j: int) -> tuple[np.ndarray, np.ndarray]:
            shard = self.shards[j]
            _, found = shard.search(q.reshape(1, -1), min(per, shard.ntotal))
            rows = self.rows[starts[j] + found[0][found[0] >= 0]]
            rows = np.ascontiguousarray(rows[rows >= 0])
            scores = np.empty(len(rows), dtype=np.float32)
            # store[rows] @ q, without the copy
            faiss.fvec_inner_products_by_idx(  # type: ignore[attr-defined]  # not in faiss's stubs
                faiss.swig_ptr(scores),
                faiss.swig_ptr(q),
                faiss.swig_ptr(store),
                faiss.swig_ptr(rows),
                store.shape[1],
                1,
                len(rows),
            )
            if len(rows) > k:
                top = np.argpartition(-scores, k - 1)[:k]
                rows, scores = rows[top], scores[top]
            return rows, scores

        if len(self.shards) == 1:
            parts = [scan(0)]
        else:
            others = [_pool().submit(scan, j) for j in range(1, len(self.shards))]
            parts = [scan(0), *(f.result() for f in others)]
        rows = np.concatenate([r for r, _ in parts])
        scores = np.concatenate([s for _, s in parts])
        order = np.lexsort((rows, -scores))[:k]  # best first; ties in store order
        return rows[order], scores[order]


def shard_count(n: int) -> int:
    """Shards for ``n`` codes: one per ``SHARD_MIN``, at most ``SCAN_THREADS``."""
    return max(1, min(SCAN_THREADS, n // SHARD_MIN))
