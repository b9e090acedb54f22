"""The exact FAISS kinds: ``flat`` (every vector read per query) and ``pq`` / ``rabitq`` (the
same vectors plus short codes scanned for candidates, re-scored exactly).

The vectors are rows of :class:`~qa.vectors.faiss.rows.VectorRows`: a loaded segment's
vectors stay in its file, read when used. A store that is searched also keeps a copy of
every row for the first pass of a search — float32 up to ``FLOAT32_COPY_MAX`` vectors,
float16 above (half the memory, and a little slower to score) — and re-scores the best of
that pass exactly from the float32 rows, so the scores it returns are exact inner
products. That copy and the
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
from qa.vectors.faiss.codes import CodeScan, shard_count
from qa.vectors.faiss.rows import BATCH, VectorRows
from qa.vectors.faiss.spec import CODE_KINDS, AnnSpec, ann_record

# Filtered queries allowing at most this many vectors are answered exactly.
EXACT_FILTER_MAX = 20_000
# A searched store's first-pass copy is float32 up to this many vectors (1.5 KB each),
# float16 above (half the memory; the best are re-scored exactly either way).
FLOAT32_COPY_MAX = 250_000
# Codes whose vectors were removed are rebuilt past this share of them.
MAX_TOMBSTONES = 0.25


def top_k(rows: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best rows by score, best first (ties in row order)."""
    if len(rows) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        rows, scores = rows[part], scores[part]
    order = np.lexsort((rows, -scores))
    return rows[order], scores[order]


class FlatIndex(VectorStore):
    """Global id → vector, searched exactly or through codes (see the module docstring)."""

    def __init__(self, dim: int, spec: AnnSpec) -> None:
        self.dim, self.spec = dim, spec
        self.vectors = VectorRows(dim)
        # searched stores: every row for the first pass, and the codes
        self.resident = np.zeros((0, dim), dtype=np.float32)
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
        self.resident[rows] = vectors

    def _first_pass(self, rows: np.ndarray) -> np.ndarray:
        return self.resident[rows].astype(np.float32, copy=False)

    def _scores(self, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
        """First-pass inner products of ``rows`` with ``q`` (float32 rows read in place)."""
        if self.resident.dtype != np.float32:
            return self._first_pass(rows) @ q
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        scores = np.empty(len(rows), dtype=np.float32)
        faiss.fvec_inner_products_by_idx(  # type: ignore[attr-defined]  # not in faiss's stubs
            faiss.swig_ptr(scores),
            faiss.swig_ptr(q),
            faiss.swig_ptr(self.resident),
            faiss.swig_ptr(rows),
            self.dim,
            1,
            len(rows),
        )
        return scores

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
                self.resident = self.resident.astype(np.float16)
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
        limit = self.ntotal if allowed is None else min(self.ntotal, len(allowed))
        k = min(k, limit)
        if k <= 0:
            return []
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        if not self.coded:
            self.prepare()
        rows = None if allowed is None else self.vectors.rows_of(allowed)
        if rows is not None:
            rows = np.unique(rows[rows >= 0])
        first = max(2 * k, k + 32)  # the first pass's best, re-scored exactly
        found = np.zeros(0, dtype=np.int64)
        if self.codes is not None and (rows is None or len(rows) > self.exact_filter_max):
            found, _ = self._search_codes(q, first, rows)
        if len(found) < min(first, limit):
            # no codes, a narrow filter, or fewer live candidates than wanted
            if rows is None:  # every row, read in place
                rows = self.vectors.live_rows()
                scores = (self.resident[: self.vectors.size] @ q)[rows]
            else:
                scores = np.empty(len(rows), dtype=np.float32)
                for at in range(0, len(rows), BATCH):
                    scores[at : at + BATCH] = self._scores(rows[at : at + BATCH], q)
            found, _ = top_k(rows, scores.astype(np.float32, copy=False), first)
        return self._hits(*top_k(found, self.vectors.take(found) @ q, k))

    def _search_codes(
        self, q: np.ndarray, k: int, rows: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best code estimates by their first-pass scores; with ``rows`` (a
        filter), more candidates in proportion to what it leaves out, and only its rows."""
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
