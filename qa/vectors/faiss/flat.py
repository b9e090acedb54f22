"""The exact FAISS kinds: ``flat`` (every vector read per query) and ``pq`` / ``rabitq`` (the
same vectors plus short codes scanned for candidates, re-scored exactly).

The vectors are rows of :class:`~qa.vectors.faiss.rows.VectorRows`: a loaded segment's
vectors stay in its memory-mapped file, so a store of millions of vectors costs the process
its ids and codes, not the vectors. Codes are built when the store is first searched (or
:meth:`FlatIndex.prepare` asks), so a store only read by id — the sentences' — never pays
for them. A removed vector's code stays until removed codes pass ``MAX_TOMBSTONES``
(searches skip it).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from qa.store import Filters, StoredDocument, VectorsRecord
from qa.vectors.base import Rows, VectorKind, VectorStore
from qa.vectors.faiss import codes as code_scan
from qa.vectors.faiss.codes import CodeScan, shard_count
from qa.vectors.faiss.rows import VectorRows
from qa.vectors.faiss.spec import CODE_KINDS, AnnSpec, ann_record

# Filtered queries allowing at most this many vectors are answered exactly.
EXACT_FILTER_MAX = 20_000
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
        self.codes: CodeScan | None = None
        self.coded = False  # whether codes are kept up to date (after the first search)
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
        block: np.ndarray,
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
        if self.codes is not None:
            self.codes.add(self.vectors.take(rows), rows)
        if self.codes is None or not self.codes.balanced():
            self._recode()

    def _recode(self) -> None:
        """Codes for every live vector, in ``shard_count`` shards; none below
        ``CODES_MIN`` vectors (or for the flat kind)."""
        self.codes = None
        n = self.vectors.count
        if self.spec.kind in CODE_KINDS and n >= code_scan.CODES_MIN:
            self.codes = CodeScan(
                self.spec.kind, self.vectors, self.vectors.live_rows(), shard_count(n)
            )

    def prepare(self) -> None:
        """Build the codes now (rather than at the first search), then let go of the vector
        pages building them read."""
        with self._coding:
            if not self.coded:
                self._recode()
                self.coded = True
        self.vectors.release()

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
        if self.spec.kind in CODE_KINDS and not self.coded:
            self.prepare()
        rows = None if allowed is None else self.vectors.rows_of(allowed)
        if rows is not None:
            rows = np.unique(rows[rows >= 0])
        if self.codes is not None and (rows is None or len(rows) > self.exact_filter_max):
            hits = self._search_codes(q, k, rows)
            if len(hits[0]) == k:
                return self._hits(*hits)
            # fewer than k live candidates (many removed codes, a narrow filter): exact
        return self._hits(*top_k(*self.vectors.scan(q, rows), k))

    def _search_codes(
        self, q: np.ndarray, k: int, rows: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The best code estimates re-scored exactly; with ``rows`` (a filter), more
        candidates in proportion to what it leaves out, and only its rows."""
        assert self.codes is not None
        live, candidates = self.vectors.live, self.spec.candidates
        if rows is not None:
            live = np.zeros(len(live), dtype=bool)
            live[rows] = self.vectors.live[rows]
            candidates = int(min(candidates * self.ntotal / max(len(rows), 1), 8 * candidates))
        return self.codes.search(q, k, candidates, live, lambda r: self.vectors.take(r) @ q)

    def _hits(self, rows: np.ndarray, scores: np.ndarray) -> list[tuple[int, float]]:
        ids = self.vectors.ids[rows]
        return [(int(i), float(s)) for i, s in zip(ids.tolist(), scores.tolist(), strict=True)]
