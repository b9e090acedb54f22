"""Vector indexes: exact (Flat) while it is fast enough, a graph (HNSW), inverted lists
(IVF) or a scan of short codes with exact re-scoring (PQ, RaBitQ) above.

Every vector index maps global passage (or sentence) ids to L2-normalised vectors and
answers inner-product top-k queries, optionally restricted to a set of allowed ids.

* ``flat`` — ``IndexIDMap2(IndexFlatIP)``: exact; one query reads every vector, so its
  cost grows linearly (see eval/BENCH.md for the measured curve).
* ``ivf`` — ``IndexIVFFlat``: vectors grouped around ``nlist`` k-means centroids; a query
  reads the ``nprobe`` nearest groups. Centroids are trained once from the stored vectors
  and kept in the index folder (named, with their checksum, in the manifest), so loading
  an index never retrains. Vectors added later join their nearest group.
* ``hnsw`` — ``IndexIDMap2(IndexHNSWFlat)``: a navigable small-world graph over the
  vectors (``m`` links per vector); a query walks it, keeping the ``ef_search`` best
  candidates. HNSW cannot delete: a removed vector stays in the graph as a tombstone,
  excluded from every search, until the graph is rebuilt (:meth:`VectorIndex.compacted`,
  when tombstones pass ``MAX_TOMBSTONES``). Building the graph is the costly part (minutes
  per million vectors on two cores), so the graph itself is saved beside the segments
  (:meth:`VectorIndex.graph_bytes`) and loaded instead of rebuilt.
* ``pq`` and ``rabitq`` — the exact index above, plus every vector as a short code
  scanned with SIMD table lookups (FAISS fast-scan): ``pq``, 4-bit product quantisation
  after a random rotation (one sub-quantizer per two dimensions: 96 bytes for 384
  dimensions; ``IndexPQFastScan``), or
  ``rabitq``, 1-bit RaBitQ codes (48 bytes and their correction factors;
  ``IndexRaBitQFastScan``). A query scans every code for its ``candidates`` best
  estimates and re-scores them exactly from the stored vectors, so the scores returned
  are true inner products. The codes are split into shards (:func:`shard_count`), each
  scanned and re-scored on its own thread. Nothing is saved beside the segments: the
  codes are rebuilt from the vectors at load (seconds per million). A removed vector's
  code stays until removed codes pass ``MAX_TOMBSTONES`` of them (re-scoring skips it);
  filtered queries are exact.

A filtered query that allows few ids is answered exactly over just those vectors (an
approximate index could miss them all); otherwise the filter is pushed into FAISS.

Which kind an index uses is an :class:`AnnSpec`, chosen by :func:`choose_spec` from the
number of vectors (``auto``: flat, then pq) or fixed by settings, and recorded in the
manifest. The vectors themselves always stay in the segments, so switching kind never
re-embeds.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, get_args

import faiss
import numpy as np

Kind = Literal["flat", "ivf", "hnsw", "pq", "rabitq"]
# kinds that keep the exact index and scan codes beside it
CODE_KINDS = ("pq", "rabitq")
# kinds whose vectors live in a flat (exact) FAISS index
FLAT_KINDS = ("flat", *CODE_KINDS)
# Largest flat index: above it, one exact query takes more than a few milliseconds here.
FLAT_MAX = 50_000
DEFAULT_NPROBE = 32
# Filtered queries allowing at most this many vectors are answered exactly.
EXACT_FILTER_MAX = 20_000
TRAIN_POINTS_PER_LIST = 64
MIN_POINTS_PER_LIST = 39  # fewer and k-means has too little to go on (FAISS warns)
# HNSW parameters, from the recall/latency curve measured in eval/BENCH.md.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 100
HNSW_EF_SEARCH = 512
# A graph (or code set) whose removed vectors pass this share of it is rebuilt from the
# live ones.
MAX_TOMBSTONES = 0.25
# pq and rabitq: code estimates re-scored exactly per query (the fewest reaching recall@10
# 0.98 at a million vectors, from the curve measured in eval/BENCH.md); below CODES_MIN
# vectors there are no codes (an exact scan is as fast).
CANDIDATES = {"pq": 6000, "rabitq": 2000}
CODES_MIN = 1000
# pq: vectors sampled to train the sub-quantizers (FAISS uses 256 per centroid at most)
PQ_TRAIN = 16 * 256
# The codes are split into shards scanned (and their candidates re-scored) in parallel, one
# thread each: at most one per CPU core (4 at most), each of at least SHARD_MIN codes.
SCAN_THREADS = max(1, min(os.cpu_count() or 1, 4))
SHARD_MIN = 25_000


@dataclass(frozen=True)
class AnnSpec:
    """The kind of a vector index and its parameters."""

    kind: Kind = "flat"
    nlist: int = 0  # ivf: number of inverted lists (k-means centroids)
    nprobe: int = 0  # ivf: lists read per query
    trained_on: int = 0  # ivf: vectors in the index when the centroids were trained
    m: int = 0  # hnsw: links per vector
    ef_search: int = 0  # hnsw: candidates kept while searching
    ef_construction: int = 0  # hnsw: candidates kept while linking a new vector
    candidates: int = 0  # pq, rabitq: best code estimates re-scored exactly per query

    def record(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v or k == "kind"}

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> AnnSpec:
        numbers = {f.name for f in fields(cls)} - {"kind"}
        record = record or {}
        return cls(
            record.get("kind", "flat"),
            **{k: int(v) for k, v in record.items() if k in numbers},
        )


def default_nlist(n: int) -> int:
    """About 4·√n lists, a power of two, between 64 and 65,536."""
    return int(min(65_536, max(64, 2 ** round(math.log2(4 * math.sqrt(max(n, 1)))))))


def choose_spec(
    n: int,
    current: AnnSpec,
    mode: str = "auto",
    flat_max: int = FLAT_MAX,
    nprobe: int = DEFAULT_NPROBE,
    ef_search: int = HNSW_EF_SEARCH,
    m: int = HNSW_M,
    candidates: int = 0,
) -> AnnSpec:
    """The spec an index of ``n`` vectors should have; ``current`` is kept unless it no
    longer fits (so a growing ivf index retrains only when it has grown fourfold).

    ``mode``: ``auto`` (flat up to ``flat_max`` vectors, pq above; back to flat below
    half of it), ``flat``, ``ivf``, ``hnsw``, ``pq`` or ``rabitq``; ``candidates`` 0 is
    the kind's default (``CANDIDATES``). pq is the approximate kind ``auto`` picks: it
    matches or beats every other kind on recall and latency at every size measured (67k
    real vectors, 100k and 1M synthetic: eval/BENCH.md), is the only one reaching recall@10
    0.98 within 5 ms at 1M, and builds in seconds, not minutes."""
    want: Kind
    if mode == "auto":
        if current.kind != "flat":
            want = "flat" if n < flat_max // 2 else "pq"
        else:
            want = "pq" if n > flat_max else "flat"
    elif mode in get_args(Kind):
        want = mode  # type: ignore[assignment]
    else:
        raise ValueError(
            f"unknown vector index kind {mode!r} (auto, flat, ivf, hnsw, pq or rabitq)"
        )
    if want == "flat":
        return AnnSpec("flat")
    if want == "hnsw":
        # ef_search is a search-time knob: changing it keeps the graph (see same_structure)
        return AnnSpec("hnsw", m=m, ef_search=ef_search, ef_construction=HNSW_EF_CONSTRUCTION)
    if want in CODE_KINDS:
        # a search-time knob, like ef_search
        return AnnSpec(want, candidates=candidates or CANDIDATES[want])
    if (
        current.kind == "ivf"
        and current.nprobe == nprobe
        and current.trained_on > 0
        and n <= 4 * current.trained_on
    ):
        return current
    return AnnSpec("ivf", default_nlist(n), nprobe, n)


def same_structure(a: AnnSpec, b: AnnSpec) -> bool:
    """Whether an index built for ``a`` serves ``b`` once its search parameters change."""
    if a.kind == b.kind == "hnsw":
        return (a.m, a.ef_construction) == (b.m, b.ef_construction)
    if a.kind == b.kind and a.kind in CODE_KINDS:
        return True
    return a == b


def train_centroids(vectors: np.ndarray, nlist: int, seed: int = 1234) -> np.ndarray:
    """Spherical k-means centroids of (a sample of) ``vectors``; fewer than ``nlist`` when
    there are not ``MIN_POINTS_PER_LIST`` vectors for each."""
    nlist = max(1, min(nlist, len(vectors) // MIN_POINTS_PER_LIST))
    sample = vectors
    limit = nlist * TRAIN_POINTS_PER_LIST
    if len(vectors) > limit:
        rng = np.random.default_rng(seed)
        sample = vectors[np.sort(rng.choice(len(vectors), limit, replace=False))]
    kmeans = faiss.Kmeans(
        vectors.shape[1],
        nlist,
        niter=20,
        seed=seed,
        spherical=True,
        verbose=False,
        max_points_per_centroid=TRAIN_POINTS_PER_LIST,
    )
    kmeans.train(np.ascontiguousarray(sample, dtype=np.float32))
    return np.ascontiguousarray(kmeans.centroids, dtype=np.float32)


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
            faiss.fvec_inner_products_by_idx(  # store[rows] @ q, without the copy
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


class VectorIndex:
    """Global id → vector, searchable by inner product (see the module docstring)."""

    def __init__(
        self,
        dim: int,
        spec: AnnSpec,
        centroids: np.ndarray | None = None,
        graph: bytes | None = None,
    ) -> None:
        self.dim, self.spec, self.centroids = dim, spec, centroids
        self.exact_filter_max = EXACT_FILTER_MAX
        # hnsw: ids in the graph but removed from the collection, and the selector
        # excluding them (rebuilt when they change)
        self.tombstones: set[int] = set()
        self._live_selector: faiss.IDSelector | None = None
        self._dead_selector: faiss.IDSelector | None = None
        self._keep: list[Any] = []
        self.loaded_ids: np.ndarray | None = None
        # pq and rabitq: the codes (none below CODES_MIN vectors)
        self.codes: CodeScan | None = None
        if spec.kind in FLAT_KINDS:
            self.flat = faiss.IndexFlatIP(dim)
            self.faiss: faiss.Index = faiss.IndexIDMap2(self.flat)
        elif spec.kind == "hnsw":
            if graph is not None:
                index = faiss.deserialize_index(np.frombuffer(graph, dtype=np.uint8))
                if index.d != dim:
                    raise ValueError(f"saved graph has dimension {index.d}, not {dim}")
                self.faiss = index
                # ids the loaded graph already holds: loading its segments skips them
                self.loaded_ids = np.sort(self.ids())
            else:
                hnsw = faiss.IndexHNSWFlat(dim, spec.m, faiss.METRIC_INNER_PRODUCT)
                hnsw.hnsw.efConstruction = spec.ef_construction
                self.faiss = faiss.IndexIDMap2(hnsw)
                self._keep.append(hnsw)  # owned by Python: alive as long as the map
        else:
            if centroids is None or centroids.shape[1] != dim:
                raise ValueError("an ivf index needs its trained centroids")
            quantizer = faiss.IndexFlatIP(dim)
            quantizer.add(np.ascontiguousarray(centroids, dtype=np.float32))
            ivf = faiss.IndexIVFFlat(quantizer, dim, len(centroids), faiss.METRIC_INNER_PRODUCT)
            ivf.is_trained = True
            ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct and remove by id
            ivf.nprobe = spec.nprobe
            self._keep.append(quantizer)  # owned by Python: keep it alive as long as ``ivf``
            self.faiss = ivf

    @property
    def ntotal(self) -> int:
        """Live vectors (tombstones not counted)."""
        return int(self.faiss.ntotal) - len(self.tombstones)

    def ids(self) -> np.ndarray:
        """Every id the index holds, tombstones included (flat and hnsw only)."""
        return faiss.vector_to_array(self.faiss.id_map).astype(np.int64)

    def count(self) -> int:
        return self.ntotal

    def add(
        self, ids: np.ndarray, vectors: np.ndarray, docs: Sequence[object] | None = None
    ) -> None:
        """Store ``vectors`` under ``ids`` (``docs`` are not needed: filters come as ids)."""
        if self.loaded_ids is not None and len(ids):
            fresh = ~np.isin(ids, self.loaded_ids, assume_unique=True)
            ids, vectors = ids[fresh], vectors[fresh]
        if len(ids):
            ids = ids.astype(np.int64)
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            first_row = self.faiss.ntotal
            self.faiss.add_with_ids(vectors, ids)
            if self.spec.kind not in CODE_KINDS:
                return
            if self.codes is not None:
                self.codes.add(vectors, first_row)
            if self.codes is None or not self.codes.balanced():
                self._recode()

    def _stored(self) -> np.ndarray:
        """flat, pq and rabitq: the stored vectors, one per row (a view, valid until the next
        write)."""
        n = self.flat.ntotal
        return faiss.rev_swig_ptr(self.flat.get_xb(), n * self.dim).reshape(n, self.dim)

    def _recode(self) -> None:
        """Codes for every stored vector (none removed), in ``shard_count`` shards; no
        codes below ``CODES_MIN`` vectors."""
        self.codes = None
        n = self.faiss.ntotal
        if n >= CODES_MIN:
            self.codes = CodeScan(self.spec.kind, self._stored(), shard_count(n))

    def remove(self, ids: np.ndarray) -> None:
        if not len(ids):
            return
        if self.spec.kind == "hnsw":
            # built here, under the writer's lock, never by a (concurrent) search
            self.tombstones.update(int(i) for i in ids)
            dead = faiss.IDSelectorBatch(np.fromiter(self.tombstones, dtype=np.int64))
            self._dead_selector = dead  # IDSelectorNot does not own it: keep it alive
            self._live_selector = faiss.IDSelectorNot(dead)
            return
        ids = ids.astype(np.int64)
        if self.codes is None:
            self.faiss.remove_ids(ids)
            return
        removed = np.flatnonzero(np.isin(self.ids(), ids))  # their rows, before the shift
        self.faiss.remove_ids(ids)
        self.codes.remove_rows(removed)
        if self.codes.dead > MAX_TOMBSTONES * self.codes.ntotal:
            self._recode()

    def retain(self, live: np.ndarray) -> None:
        """Remove every id not in ``live``; ends the loading of a saved graph (see
        :meth:`qa.index.Index.settle_graphs`)."""
        held = self.ids()
        self.remove(held[~np.isin(held, live)])
        self.loaded_ids = None

    def settle(self, live: np.ndarray, repair: bool = True) -> None:
        """After loading: tombstone what a saved graph holds and the segments no longer do."""
        if self.spec.kind == "hnsw":
            self.retain(live)

    def configure(self, manifest: dict[str, Any], which: str) -> None:
        """Search-time parameters (hnsw ``ef_search``) change without a rebuild."""
        self.spec = AnnSpec.from_record((manifest.get("ann") or {}).get(which))

    def persist(self) -> None:
        """Nothing: the segments hold the vectors, the collection saves graphs itself."""

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        if not len(ids):
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.faiss.reconstruct_batch(ids.astype(np.int64))

    def copy(self) -> VectorIndex:
        """An independent hnsw index with the same graph and tombstones."""
        twin = VectorIndex(self.dim, self.spec, graph=self.graph_bytes())
        twin.loaded_ids = None
        twin.remove(np.fromiter(self.tombstones, dtype=np.int64))
        return twin

    def graph_bytes(self) -> bytes:
        """The whole hnsw index (graph, vectors, ids) as bytes, to save beside the
        segments; tombstones are not included (the manifest says what is live)."""
        return faiss.serialize_index(self.faiss).tobytes()

    def compacted(self) -> VectorIndex:
        """A copy without tombstones (an hnsw graph rebuilt from the live vectors) when
        they pass ``MAX_TOMBSTONES`` of it; otherwise ``self``."""
        if self.spec.kind != "hnsw" or len(self.tombstones) <= MAX_TOMBSTONES * self.faiss.ntotal:
            return self
        held = self.ids()
        live = held[~np.isin(held, np.fromiter(self.tombstones, dtype=np.int64))]
        fresh = VectorIndex(self.dim, self.spec)
        fresh.add(live, self.reconstruct(live))
        return fresh

    def search(
        self,
        query: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        where: object = None,
    ) -> list[tuple[int, float]]:
        """Ids and inner products of the ``k`` nearest vectors to one query vector, among
        ``allowed`` ids when given (filtered before the top-k; ``where``, the same filter
        as an expression, is for stores that cannot take ids)."""
        limit = self.ntotal if allowed is None else min(self.ntotal, len(allowed))
        k = min(k, limit)
        if k <= 0:
            return []
        q = query.reshape(1, -1).astype(np.float32)
        if self.codes is not None and allowed is None:
            hits = self._search_codes(q[0], k)
            if len(hits) == k:
                return hits
            # fewer than k live candidates (many removed codes): exact search below
        if (
            allowed is not None
            and self.spec.kind not in FLAT_KINDS
            and len(allowed) <= self.exact_filter_max
        ):
            scores = self.reconstruct(allowed) @ q[0]
            top = np.argsort(-scores, kind="stable")[:k]
            return [(int(allowed[i]), float(scores[i])) for i in top]
        selector = None if allowed is None else faiss.IDSelectorBatch(allowed.astype(np.int64))
        if self.spec.kind in FLAT_KINDS:
            params = None if selector is None else faiss.SearchParameters(sel=selector)
            scores, ids = self.faiss.search(q, k, params=params)
        elif self.spec.kind == "hnsw":
            scores, ids = self._search_hnsw(q, k, selector, limit)
        else:
            # The probed lists may hold fewer than k (allowed) vectors: probe more until
            # k are found or every list has been read.
            nlist, nprobe = self.faiss.nlist, self.spec.nprobe
            while True:
                params = faiss.SearchParametersIVF(sel=selector, nprobe=min(nprobe, nlist))
                scores, ids = self.faiss.search(q, k, params=params)
                if ids[0][-1] >= 0 or nprobe >= nlist:
                    break
                nprobe *= 4
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def _search_codes(self, q: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The best ``candidates`` code estimates (split between the shards), re-scored
        exactly; removed ones skipped."""
        assert self.codes is not None
        rows, scores = self.codes.search(q, k, self.spec.candidates, self._stored())
        ids = faiss.rev_swig_ptr(self.faiss.id_map.data(), self.faiss.ntotal)[rows]
        return [(int(i), float(s)) for i, s in zip(ids, scores, strict=True)]

    def _search_hnsw(
        self, q: np.ndarray, k: int, selector: faiss.IDSelector | None, limit: int
    ) -> tuple[np.ndarray, np.ndarray]:
        if selector is None:
            selector = self._live_selector  # None without tombstones
        # A filter keeps a share of the graph: widen the walk by its inverse, then more
        # while fewer than k allowed vectors were reached.
        ef = max(self.spec.ef_search, k)
        if limit < self.faiss.ntotal:
            ef = int(min(ef * self.faiss.ntotal / max(limit, 1), 16 * ef))
        while True:
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=ef)
            scores, ids = self.faiss.search(q, k, params=params)
            if ids[0][-1] >= 0 or ef >= self.faiss.ntotal:
                return scores, ids
            ef *= 4
