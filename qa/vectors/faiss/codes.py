"""Short codes of a flat store's vectors, scanned with SIMD table lookups (FAISS fast-scan)
in shards, each on its own thread; the best estimates are re-scored exactly (from the
vectors, read where they lie).

``pq``: 4-bit product quantisation after a random rotation (one sub-quantizer per two
dimensions: 96 bytes for 384 dimensions; ``IndexPQFastScan``). ``rabitq``: 1-bit RaBitQ
codes (48 bytes and their correction factors; ``IndexRaBitQFastScan``). Codes are built
from the stored vectors, never saved (seconds per million).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import faiss
import numpy as np

from qa.vectors.faiss.rows import BATCH

# Below this many vectors there are no codes: an exact scan is as fast.
CODES_MIN = 1000
# pq: vectors sampled to train the sub-quantizers (FAISS uses 256 per centroid at most);
# rabitq: vectors sampled for the centre (their mean)
PQ_TRAIN = 16 * 256
RABITQ_TRAIN = 65_536
# The codes are split into shards scanned (and their candidates re-scored) in parallel, one
# thread each: at most one per CPU core (4 at most), each of at least SHARD_MIN codes.
SCAN_THREADS = max(1, min(os.cpu_count() or 1, 4))
SHARD_MIN = 25_000


_scan_pool: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """The threads scanning code shards beside the calling one (made on first use)."""
    global _scan_pool
    if _scan_pool is None:
        _scan_pool = ThreadPoolExecutor(
            max(SCAN_THREADS - 1, 1),
            thread_name_prefix="qa-scan",
            initializer=faiss.omp_set_num_threads,  # a shard, one thread
            initargs=(1,),
        )
    return _scan_pool


def code_index(kind: str, sample: np.ndarray) -> faiss.Index:
    """An empty fast-scan code index of ``kind`` (pq or rabitq), trained on ``sample``."""
    dim = sample.shape[1]
    if kind == "pq":
        # one 4-bit sub-quantizer per two dimensions, after a random rotation (which
        # spreads the variance evenly over them)
        index = faiss.index_factory(
            dim, f"RR{dim},PQ{dim // 2 if dim % 2 == 0 else dim}x4fs", faiss.METRIC_INNER_PRODUCT
        )
        index.train(np.resize(sample, (max(len(sample), 16), dim)))  # k-means: ≥ 16 points
    else:
        index = faiss.IndexRaBitQFastScan(dim, faiss.METRIC_INNER_PRODUCT)
        index.train(sample)  # the centre: the mean of the vectors
    return index


class CodeScan:
    """Codes of rows of a store, in shards scanned in parallel.

    ``rows[i]`` is the row of code ``i`` (codes are numbered across the shards in order).
    Rows never move; a code whose row has died stays until the codes are rebuilt, and
    searches skip it."""

    def __init__(
        self, kind: str, vectors: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, shards: int
    ) -> None:
        """Codes of ``rows``, whose vectors ``vectors(rows)`` gives."""
        rng = np.random.default_rng(1234)
        train = PQ_TRAIN if kind == "pq" else RABITQ_TRAIN
        sample = np.sort(rng.choice(len(rows), min(len(rows), train), replace=False))
        trained = faiss.serialize_index(code_index(kind, vectors(rows[sample])))
        self.shards: list[faiss.Index] = []
        for part in np.array_split(rows, shards):
            shard = faiss.deserialize_index(trained)  # the same training in every shard
            for at in range(0, len(part), BATCH):
                shard.add(np.ascontiguousarray(vectors(part[at : at + BATCH])))
            self.shards.append(shard)
        self.rows = np.asarray(rows, dtype=np.int64).copy()

    @property
    def ntotal(self) -> int:
        return len(self.rows)

    def add(self, vectors: np.ndarray, rows: np.ndarray) -> None:
        """Code ``vectors`` (of ``rows``) in the last shard."""
        self.shards[-1].add(np.ascontiguousarray(vectors, dtype=np.float32))
        self.rows = np.concatenate([self.rows, rows])

    def balanced(self) -> bool:
        """Whether the last shard (which takes every added vector) is still at most
        twice the first."""
        return self.shards[-1].ntotal <= 2 * self.shards[0].ntotal

    def dead(self, live: np.ndarray) -> int:
        """Codes whose rows are no longer ``live``."""
        return int((~live[self.rows]).sum())

    def search(
        self,
        queries: np.ndarray,
        k: int,
        candidates: int,
        live: np.ndarray,
        score: Callable[[np.ndarray], np.ndarray],
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each of ``queries`` (one per row), the rows and scores of the ``k`` best of
        every shard's best ``candidates / shards`` estimates for any of them (dead rows
        skipped), best first. ``score(rows)`` gives one column of scores per query.

        The queries are scanned together: the scan reads every code once whatever their
        number (it is bound by memory bandwidth), and each query is scored on every
        query's candidates."""
        per = math.ceil(max(candidates, k) / len(self.shards))
        starts = np.cumsum([0] + [s.ntotal for s in self.shards])

        def scan(j: int) -> np.ndarray:  # FAISS releases the GIL: the shards run in parallel
            shard = self.shards[j]
            _, found = shard.search(queries, min(per, shard.ntotal))
            found = found.reshape(-1)
            return self.rows[starts[j] + found[found >= 0]]

        # One thread per shard: an OpenMP team over the queries would take the cores the
        # other shards scan on (and, in a server, other requests run on).
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            others = [_pool().submit(scan, j) for j in range(1, len(self.shards))]
            parts = [scan(0), *(f.result() for f in others)]
        finally:
            faiss.omp_set_num_threads(threads)
        # every candidate scored once, in this thread, in row order (the copy read front to back)
        rows = distinct(np.concatenate(parts))
        rows = rows[live[rows]]
        scores = score(rows)
        return [top_k(rows, scores[:, j], k) for j in range(scores.shape[1])]


def distinct(rows: np.ndarray) -> np.ndarray:
    """``rows`` sorted, each once (``np.unique`` hashes: slower on a few thousand)."""
    rows = np.sort(rows)
    return rows[np.r_[True, rows[1:] != rows[:-1]]] if len(rows) else rows


def top_k(rows: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best rows by score, best first (ties in row order)."""
    if len(rows) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        rows, scores = rows[part], scores[part]
    order = np.lexsort((rows, -scores))
    return rows[order], scores[order]


def shard_count(n: int) -> int:
    """Shards for ``n`` codes: one per ``SHARD_MIN``, at most ``SCAN_THREADS``."""
    return max(1, min(SCAN_THREADS, n // SHARD_MIN))
