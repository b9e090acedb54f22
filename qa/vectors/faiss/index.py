"""FAISS vector stores: inverted lists (IVF) or a graph (HNSW); the exact kinds (flat, and
flat plus codes: PQ, RaBitQ) are :mod:`qa.vectors.faiss.flat`. :func:`make_index` makes the
store of a spec.

* ``ivf`` — ``IndexIVFFlat``: vectors grouped around k-means centroids, trained once from
  the stored vectors and saved beside the segments, so loading never retrains; vectors
  added later join their nearest group.
* ``hnsw`` — ``IndexIDMap2(IndexHNSWFlat)``. HNSW cannot delete: a removed vector stays
  in the graph as a tombstone that every search excludes, until tombstones pass
  ``MAX_TOMBSTONES`` and the graph is rebuilt (:meth:`VectorIndex.compacted`). Linking a
  graph takes minutes per million vectors, so the graph is saved beside the segments
  (:meth:`VectorIndex.graph_bytes`) and loaded rather than rebuilt.

A filtered query that allows few ids is answered exactly over just those vectors (an
approximate index could miss them all); otherwise the filter is pushed into FAISS.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from qa.store import Filters, VectorsRecord
from qa.vectors.base import Rows, VectorKind, VectorStore
from qa.vectors.faiss.flat import EXACT_FILTER_MAX, MAX_TOMBSTONES, FlatIndex
from qa.vectors.faiss.spec import FLAT_KINDS, AnnSpec, ann_record

TRAIN_POINTS_PER_LIST = 64
MIN_POINTS_PER_LIST = 39  # fewer and k-means has too little to go on (FAISS warns)


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


def _faiss_index(
    dim: int, spec: AnnSpec, centroids: np.ndarray | None, graph: bytes | None
) -> tuple[faiss.Index, list[Any]]:
    """The FAISS index of ``spec`` (a saved ``graph`` loaded as it is), and the objects it
    uses but does not own, to keep alive beside it."""
    if spec.kind == "hnsw":
        if graph is not None:
            index = faiss.deserialize_index(np.frombuffer(graph, dtype=np.uint8))
            if index.d != dim:
                raise ValueError(f"saved graph has dimension {index.d}, not {dim}")
            return index, []
        hnsw = faiss.IndexHNSWFlat(dim, spec.m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = spec.ef_construction
        return faiss.IndexIDMap2(hnsw), [hnsw]
    if centroids is None or centroids.shape[1] != dim:
        raise ValueError("an ivf index needs its trained centroids")
    quantizer = faiss.IndexFlatIP(dim)
    quantizer.add(np.ascontiguousarray(centroids, dtype=np.float32))
    ivf = faiss.IndexIVFFlat(quantizer, dim, len(centroids), faiss.METRIC_INNER_PRODUCT)
    ivf.is_trained = True
    # reconstruct and remove by id
    ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]  # not in faiss's stubs
    ivf.nprobe = spec.nprobe
    return ivf, [quantizer]


def make_index(
    dim: int, spec: AnnSpec, centroids: np.ndarray | None = None, graph: bytes | None = None
) -> FlatIndex | VectorIndex:
    """The store of ``spec``: exact kinds are :class:`FlatIndex`, the others FAISS's."""
    if spec.kind in FLAT_KINDS:
        return FlatIndex(dim, spec)
    return VectorIndex(dim, spec, centroids, graph)


class VectorIndex(VectorStore):
    """Global id → vector in an IVF or HNSW index (see the module docstring)."""

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
        self.faiss, self._keep = _faiss_index(dim, spec, centroids, graph)
        # a loaded graph: the ids it already holds, which loading its segments skips
        self.loaded_ids = np.sort(self.ids()) if graph is not None else None

    @property
    def ntotal(self) -> int:
        """Live vectors (tombstones not counted)."""
        return int(self.faiss.ntotal) - len(self.tombstones)

    def ids(self) -> np.ndarray:
        """Every id the index holds, tombstones included (hnsw only)."""
        return faiss.vector_to_array(self.faiss.id_map).astype(np.int64)  # type: ignore[attr-defined]  # not in faiss's stubs

    def count(self) -> int:
        return self.ntotal

    def takes_back(self) -> bool:
        """Not an hnsw graph: a removed id stays in it as a tombstone."""
        return self.spec.kind != "hnsw"

    def add(self, rows: Rows) -> None:
        """Store ``rows`` (their documents are not needed: filters come as ids)."""
        self.add_vectors(rows.ids, rows.vectors)

    def add_vectors(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Store ``vectors`` under ``ids``."""
        if self.loaded_ids is not None and len(ids):
            fresh = ~np.isin(ids, self.loaded_ids, assume_unique=True)
            ids, vectors = ids[fresh], vectors[fresh]
        if len(ids):
            ids = ids.astype(np.int64)
            self.faiss.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)

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
        self.faiss.remove_ids(ids.astype(np.int64))  # type: ignore[arg-type]  # not in faiss's stubs

    def retain(self, live: np.ndarray) -> None:
        """Remove every id not in ``live``; ends the loading of a saved graph."""
        held = self.ids()
        self.remove(held[~np.isin(held, live)])
        self.loaded_ids = None

    def settle(self, live: np.ndarray, repair: bool) -> None:
        """After loading: tombstone what a saved graph holds and the segments no longer do."""
        if self.spec.kind == "hnsw":
            self.retain(live)

    def configure(self, record: VectorsRecord, which: VectorKind, next_id: int) -> None:
        """Search-time parameters (hnsw ``ef_search``) change without a rebuild."""
        self.spec = ann_record(record, which).spec

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
        fresh.add_vectors(live, self.reconstruct(live))
        return fresh

    def search(
        self,
        query: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        where: Filters | None = None,
    ) -> list[tuple[int, float]]:
        """Ids and inner products of the ``k`` nearest vectors to one query vector, among
        ``allowed`` ids when given (filtered before the top-k; ``where``, the same filter
        as an expression, is for stores that cannot take ids)."""
        limit = self.ntotal if allowed is None else min(self.ntotal, len(allowed))
        k = min(k, limit)
        if k <= 0:
            return []
        q = query.reshape(1, -1).astype(np.float32)
        if allowed is not None and len(allowed) <= self.exact_filter_max:
            scores = self.reconstruct(allowed) @ q[0]
            top = np.argsort(-scores, kind="stable")[:k]
            return [(int(allowed[i]), float(scores[i])) for i in top]
        selector = None if allowed is None else faiss.IDSelectorBatch(allowed.astype(np.int64))
        if self.spec.kind == "hnsw":
            scores, ids = self._search_hnsw(q, k, selector, limit)
        else:
            # The probed lists may hold fewer than k (allowed) vectors: probe more until
            # k are found or every list has been read.
            nlist, nprobe = self.faiss.nlist, self.spec.nprobe  # type: ignore[attr-defined]  # not in faiss's stubs
            while True:
                params = faiss.SearchParametersIVF(sel=selector, nprobe=min(nprobe, nlist))  # type: ignore[call-arg]  # not in faiss's stubs
                scores, ids = self.faiss.search(q, k, params=params)
                if ids[0][-1] >= 0 or nprobe >= nlist:
                    break
                nprobe *= 4
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

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
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=ef)  # type: ignore[attr-defined]  # not in faiss's stubs
            scores, ids = self.faiss.search(q, k, params=params)
            if ids[0][-1] >= 0 or ef >= self.faiss.ntotal:
                return scores, ids
            ef *= 4
