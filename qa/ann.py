"""Vector indexes: exact (Flat) while it is fast enough, inverted lists (IVF) above.

Every vector index maps global passage (or sentence) ids to L2-normalised vectors and
answers inner-product top-k queries, optionally restricted to a set of allowed ids.

* ``flat`` — ``IndexIDMap2(IndexFlatIP)``: exact; one query reads every vector, so its
  cost grows linearly (see eval/BENCH.md for the measured curve).
* ``ivf`` — ``IndexIVFFlat``: vectors grouped around ``nlist`` k-means centroids; a query
  reads the ``nprobe`` nearest groups. Centroids are trained once from the stored vectors
  and kept in the index folder (named, with their checksum, in the manifest), so loading
  an index never retrains. Vectors added later join their nearest group.

A filtered query that allows few ids is answered exactly over just those vectors (an
approximate index could miss them all); otherwise the filter is pushed into FAISS.

Which kind an index uses is an :class:`AnnSpec`, chosen by :func:`choose_spec` from the
number of vectors (``auto``) or fixed by settings, and recorded in the manifest. The
vectors themselves always stay in the segments, so switching kind never re-embeds.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import faiss
import numpy as np

Kind = Literal["flat", "ivf"]
# Largest flat index: above it, one exact query takes more than a few milliseconds here.
FLAT_MAX = 50_000
DEFAULT_NPROBE = 32
# Filtered queries allowing at most this many vectors are answered exactly.
EXACT_FILTER_MAX = 20_000
TRAIN_POINTS_PER_LIST = 64
MIN_POINTS_PER_LIST = 39  # fewer and k-means has too little to go on (FAISS warns)


@dataclass(frozen=True)
class AnnSpec:
    """The kind of a vector index and its parameters."""

    kind: Kind = "flat"
    nlist: int = 0  # ivf: number of inverted lists (k-means centroids)
    nprobe: int = 0  # ivf: lists read per query
    trained_on: int = 0  # ivf: vectors in the index when the centroids were trained

    def record(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v or k == "kind"}

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> AnnSpec:
        record = record or {}
        return cls(
            record.get("kind", "flat"),
            int(record.get("nlist", 0)),
            int(record.get("nprobe", 0)),
            int(record.get("trained_on", 0)),
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
) -> AnnSpec:
    """The spec an index of ``n`` vectors should have; ``current`` is kept unless it no
    longer fits (so a growing index retrains only when it has grown fourfold).

    ``mode``: ``auto`` (flat up to ``flat_max`` vectors, ivf above; back to flat below half
    of it), ``flat`` or ``ivf``."""
    want: Kind
    if mode == "auto":
        if current.kind == "ivf":
            want = "flat" if n < flat_max // 2 else "ivf"
        else:
            want = "ivf" if n > flat_max else "flat"
    else:
        want = "ivf" if mode == "ivf" else "flat"
    if want == "flat":
        return AnnSpec("flat")
    if (
        current.kind == "ivf"
        and current.nprobe == nprobe
        and current.trained_on > 0
        and n <= 4 * current.trained_on
    ):
        return current
    return AnnSpec("ivf", default_nlist(n), nprobe, n)


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


class VectorIndex:
    """Global id → vector, searchable by inner product (see the module docstring)."""

    def __init__(self, dim: int, spec: AnnSpec, centroids: np.ndarray | None = None) -> None:
        self.dim, self.spec, self.centroids = dim, spec, centroids
        self.exact_filter_max = EXACT_FILTER_MAX
        if spec.kind == "flat":
            self.faiss: faiss.Index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        else:
            if centroids is None or centroids.shape[1] != dim:
                raise ValueError("an ivf index needs its trained centroids")
            quantizer = faiss.IndexFlatIP(dim)
            quantizer.add(np.ascontiguousarray(centroids, dtype=np.float32))
            ivf = faiss.IndexIVFFlat(quantizer, dim, len(centroids), faiss.METRIC_INNER_PRODUCT)
            ivf.is_trained = True
            ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct and remove by id
            ivf.nprobe = spec.nprobe
            self._quantizer = quantizer  # owned by Python: keep it alive as long as ``ivf``
            self.faiss = ivf

    @property
    def ntotal(self) -> int:
        return int(self.faiss.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.faiss.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64)
            )

    def remove(self, ids: np.ndarray) -> None:
        if len(ids):
            self.faiss.remove_ids(ids.astype(np.int64))

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        if not len(ids):
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.faiss.reconstruct_batch(ids.astype(np.int64))

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Ids and inner products of the ``k`` nearest vectors to one query vector, among
        ``allowed`` ids when given (filtered before the top-k)."""
        limit = self.ntotal if allowed is None else min(self.ntotal, len(allowed))
        k = min(k, limit)
        if k <= 0:
            return []
        q = query.reshape(1, -1).astype(np.float32)
        if (
            allowed is not None
            and self.spec.kind != "flat"
            and len(allowed) <= self.exact_filter_max
        ):
            scores = self.reconstruct(allowed) @ q[0]
            top = np.argsort(-scores, kind="stable")[:k]
            return [(int(allowed[i]), float(scores[i])) for i in top]
        selector = None if allowed is None else faiss.IDSelectorBatch(allowed.astype(np.int64))
        if self.spec.kind == "flat":
            params = None if selector is None else faiss.SearchParameters(sel=selector)
            scores, ids = self.faiss.search(q, k, params=params)
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
