"""The exact FAISS kinds: ``flat`` (every vector read per query) and ``pq`` / ``rabitq`` (the
same vectors plus short codes scanned for candidates, re-scored exactly).

The vectors are rows of :class:`~qa.vectors.faiss.rows.VectorRows`: a loaded segment's
vectors stay in its file, read when used. A store that is searched also keeps a copy of
every row for the first pass of a search — float32 up to ``FLOAT32_COPY_MAX`` vectors,
int8 above (each row scaled by its largest component: a quarter of the memory, and faster
to score than float16, whose conversion numpy does not vectorise) — and re-scores the best
of that pass exactly from the float32 rows, so the scores it returns are exact inner
products. Several query vectors are searched at once (:meth:`FlatIndex.search_many`: the
codes are read once for all of them). That copy and the
codes are made when the store is first searched (or :meth:`FlatIndex.prepare` asks): a
store only read by id — the sentences' — never pays for them. A removed vector's code
stays until removed codes pass ``MAX_TOMBSTONES`` (searches skip it).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import faiss
import numpy as np

from qa.store import Filters, StoredDocument, VectorsRecord
from qa.vectors.base import Rows, VectorKind, VectorStore
from qa.vectors.faiss import codes as code_scan
from qa.vectors.faiss.codes import CodeScan, distinct, shard_count, top_k
from qa.vectors.faiss.rows import BATCH, VectorRows
from qa.vectors.faiss.spec import CODE_KINDS, AnnSpec, ann_record

# Filtered queries allowing at most this many vectors are answered exactly.
EXACT_FILTER_MAX = 20_000
# A searched store's first-pass copy is float32 up to this many vectors (1.5 KB each),
# int8 above (384 bytes and a scale; the best are re-scored exactly either way).
FLOAT32_COPY_MAX = 250_000
# Codes whose vectors were removed are rebuilt past this share of them.
MAX_TOMBSTONES = 0.25


def quantise(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``vectors`` as int8 rows and one scale each (a row's largest magnitude is 127)."""
    scale = np.abs(vectors).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    codes = np.rint(vectors / scale[:, None]).astype(np.int8)
    return codes, scale.astype(np.float32)


class FlatIndex(VectorStore):
    """Global id → vector, searched exactly or through codes (see the module docstring)."""

    def __init__(self, dim: int, spec: AnnSpec) -> None:
        self.dim, self.spec = dim, spec
        self.vectors = VectorRows(dim)
        # searched stores: every row for the first pass, and the codes
        self.resident = np.zeros((0, dim), dtype=np.float32)
        self.scale: np.ndarray | None = None  # an int8 copy's scale per row
        self.codes: CodeScan | None = None
        self.coded = False  # whether the copy and codes are kept (after the first search)
        self.exact_filter_max = EXACT_FILTER_MAX
        self._coding = threading.Lock()  # searches run in parallel; one builds the codes

    @property
    def ntotal(self) -> int:
        return self.vectors.count

    def count(self) -> int:
        return self.vectors.count

    def ids(self) -> np.ndarray:
        """The live ids, in row order."""
        return self.vectors.ids[self.vectors.live]

    def add(self, rows: Rows) -> None:
        self.add_vectors(rows.ids, rows.vectors)

    def add_block(
        self,
        ids: np.ndarray,
        block: Any,
        rows: np.ndarray | None,
        docs: Sequence[StoredDocument],
    ) -> None:
        self._added(self.vectors.add(ids, block, rows))

    def add_vectors(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Store ``vectors`` under ``ids``."""
        if len(ids):
            self._added(self.vectors.add(ids, np.asarray(vectors, dtype=np.float32)))

    def _added(self, rows: np.ndarray) -> None:
        if not self.coded or not len(rows):
            return
        vectors = self.vectors.take(rows)
        self._keep(rows, vectors)
        if self.codes is not None:
            self.codes.add(vectors, rows)
        if self.codes is None or not self.codes.balanced():
            self._recode()

    def _keep(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Copy ``vectors`` (of ``rows``) into the resident rows."""
        size = self.vectors.size
        if size > len(self.resident):
            grown = np.zeros((max(size, 2 * len(self.resident)), self.dim), self.resident.dtype)
            grown[: len(self.resident)] = self.resident
            self.resident = grown
            if self.scale is not None:
                grown_scale = np.ones(len(grown), dtype=np.float32)
                grown_scale[: len(self.scale)] = self.scale
                self.scale = grown_scale
        if self.scale is None:
            self.resident[rows] = vectors
        else:
            self.resident[rows], self.scale[rows] = quantise(vectors)

    def _first_pass(self, rows: np.ndarray) -> np.ndarray:
        """The first-pass copy of ``rows``, as float32."""
        if self.scale is None:
            return self.resident[rows]
        return np.take(self.resident, rows, axis=0).astype(np.float32) * self.scale[rows, None]

    def _scores(self, rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
        """First-pass inner products of ``rows`` with each of ``queries``: one column each
        (float32 rows read in place)."""
        if self.scale is not None:
            scaled = np.take(self.resident, rows, axis=0).astype(np.float32) @ queries.T
            return scaled * self.scale[rows, None]
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        scores = np.empty((len(queries), len(rows)), dtype=np.float32)
        for q, out in zip(queries, scores, strict=True):
            faiss.fvec_inner_products_by_idx(  # type: ignore[attr-defined]  # not in the stubs
                faiss.swig_ptr(out),
                faiss.swig_ptr(np.ascontiguousarray(q)),
                faiss.swig_ptr(self.resident),
                faiss.swig_ptr(rows),
                self.dim,
                1,
                len(rows),
            )
        return scores.T

    def _recode(self) -> None:
        """Codes for every live vector, in ``shard_count`` shards; none below
        ``CODES_MIN`` vectors (or for the flat kind)."""
        self.codes = None
        n = self.vectors.count
        if self.spec.kind in CODE_KINDS and n >= code_scan.CODES_MIN:
            rows = self.vectors.live_rows()
            self.codes = CodeScan(self.spec.kind, self._first_pass, rows, shard_count(n))

    def prepare(self) -> None:
        """Copy the rows and build the codes now rather than at the first search."""
        with self._coding:
            if self.coded:
                return
            if self.spec.kind in CODE_KINDS and self.vectors.count > FLOAT32_COPY_MAX:
                self.resident = np.zeros((0, self.dim), dtype=np.int8)
                self.scale = np.zeros(0, dtype=np.float32)
            for b, block in enumerate(self.vectors.blocks):  # read once, in order
                start = int(self.vectors.starts[b])
                for at in range(0, len(block), BATCH):
                    end = min(at + BATCH, len(block))
                    self._keep(np.arange(start + at, start + end), block[at:end])
            self._recode()
            self.coded = True

    def remove(self, ids: np.ndarray) -> None:
        if not len(ids):
            return
        self.vectors.remove(ids)
        if self.codes is not None:
            if self.vectors.count < code_scan.CODES_MIN:
                self.codes = None
            elif self.codes.dead(self.vectors.live) > MAX_TOMBSTONES * self.codes.ntotal:
                self._recode()

    def configure(self, record: VectorsRecord, which: VectorKind, next_id: int) -> None:
        """Search-time parameters (candidates) change without a rebuild."""
        self.spec = ann_record(record, which).spec

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        rows = self.vectors.rows_of(ids)
        if (rows < 0).any():
            raise KeyError(f"vector ids not held: {ids[rows < 0][:5].tolist()}")
        return self.vectors.take(rows)

    def search(
        self,
        query: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        where: Filters | None = None,
    ) -> list[tuple[int, float]]:
        """Ids and inner products of the ``k`` nearest vectors to one query vector, among
        ``allowed`` ids when given."""
        return self.search_many(np.reshape(query, (1, -1)), k, allowed, where)[0]

    def search_many(
        self,
        queries: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        where: Filters | None = None,
    ) -> list[list[tuple[int, float]]]:
        """:meth:`search` for each row of ``queries``, the codes read once for all."""
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        limit = self.ntotal if allowed is None else min(self.ntotal, len(allowed))
        k = min(k, limit)
        if k <= 0 or not len(q):
            return [[] for _ in q]
        if not self.coded:
            self.prepare()
        rows = None if allowed is None else self.vectors.rows_of(allowed)
        if rows is not None:
            rows = distinct(rows[rows >= 0])
        first = max(2 * k, k + 32)  # the first pass's best, re-scored exactly
        found: list[np.ndarray] = []
        if self.codes is not None and (rows is None or len(rows) > self.exact_filter_max):
            found = [r for r, _ in self._search_codes(q, first, rows)]
        if not found or any(len(f) < min(first, limit) for f in found):
            # no codes, a narrow filter, or fewer live candidates than wanted
            found = self._scan(q, first, rows)
        kept = distinct(np.concatenate(found))  # each query re-scored on every one's best
        exact = self.vectors.take(kept) @ q.T
        return [self._hits(*top_k(kept, exact[:, j], k)) for j in range(len(q))]

    def _scan(self, q: np.ndarray, k: int, rows: np.ndarray | None) -> list[np.ndarray]:
        """For each query, the ``k`` best of ``rows`` (every live row when ``None``) by
        their first-pass scores, read from the copy."""
        if rows is None and self.scale is None:  # every row of a float32 copy, in place
            rows = self.vectors.live_rows()
            scores = (self.resident[: self.vectors.size] @ q.T)[rows]
        else:
            rows = self.vectors.live_rows() if rows is None else rows
            scores = np.empty((len(rows), len(q)), dtype=np.float32)
            for at in range(0, len(rows), BATCH):
                scores[at : at + BATCH] = self._scores(rows[at : at + BATCH], q)
        return [top_k(rows, scores[:, j], k)[0] for j in range(len(q))]

    def _search_codes(
        self, q: np.ndarray, k: int, rows: np.ndarray | None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The ``k`` best code estimates of each query by their first-pass scores; with
        ``rows`` (a filter), more candidates in proportion to what it leaves out, and only
        its rows."""
        assert self.codes is not None
        live, candidates = self.vectors.live, self.spec.candidates
        if rows is not None:
            live = np.zeros(len(live), dtype=bool)
            live[rows] = self.vectors.live[rows]
            candidates = int(min(candidates * self.ntotal / max(len(rows), 1), 8 * candidates))
        return self.codes.search(q, k, candidates, live, lambda r: self._scores(r, q))

    def _hits(self, rows: np.ndarray, scores: np.ndarray) -> list[tuple[int, float]]:
        ids = self.vectors.ids[rows]
        return [(int(i), float(s)) for i, s in zip(ids.tolist(), scores.tolist(), strict=True)]
