"""Which FAISS index kind a vector store uses, and its parameters.

* ``flat`` — exact: one query reads every vector.
* ``ivf`` — inverted lists around ``nlist`` k-means centroids, ``nprobe`` read per query.
* ``hnsw`` — a navigable small-world graph (``m`` links per vector, ``ef_search``
  candidates kept while walking it).
* ``pq`` / ``rabitq`` — the exact index plus a short code per vector (4-bit product
  quantisation, or 1-bit RaBitQ), scanned for the ``candidates`` best estimates, which
  are re-scored exactly.

:class:`AnnPolicy` (from the ``QA_ANN*`` settings) picks the kind for a store of ``n``
vectors; ``auto`` keeps a store exact up to ``flat_max`` vectors and scans pq codes above
(the measurements behind that choice are in eval/BENCH.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

from qa.store import FileRef, VectorsRecord
from qa.vectors.base import HNSW_EF_CONSTRUCTION

if TYPE_CHECKING:
    from qa.core.config import Settings

Kind = Literal["flat", "ivf", "hnsw", "pq", "rabitq"]
# kinds that keep the exact index and scan codes beside it
CODE_KINDS = ("pq", "rabitq")
# kinds whose vectors live in a flat (exact) FAISS index
FLAT_KINDS = ("flat", *CODE_KINDS)
# pq and rabitq: the kind's own number of candidates (QA_ANN_CANDIDATES 0), the fewest
# reaching recall@10 0.98 at a million vectors on the curve of eval/BENCH.md.
CANDIDATES = {"pq": 6000, "rabitq": 2000}


class AnnSpec(BaseModel):
    """The kind of a vector index and its parameters (0: not used by the kind)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Kind = "flat"
    nlist: int = 0  # ivf: number of inverted lists (k-means centroids)
    nprobe: int = 0  # ivf: lists read per query
    trained_on: int = 0  # ivf: vectors in the index when the centroids were trained
    m: int = 0  # hnsw: links per vector
    ef_search: int = 0  # hnsw: candidates kept while searching
    ef_construction: int = 0  # hnsw: candidates kept while linking a new vector
    candidates: int = 0  # pq, rabitq: best code estimates re-scored exactly per query

    def record(self) -> dict[str, Any]:
        """The spec as the manifest keeps it: its kind and the parameters it uses."""
        return {"kind": self.kind, **self.model_dump(exclude_defaults=True)}


class GraphRef(FileRef):
    """A saved hnsw graph, with the vectors and tombstones it held when saved."""

    vectors: int
    tombstones: int


class AnnRecord(AnnSpec):
    """A store's entry in the manifest: its spec and the files it loads."""

    centroids: FileRef | None = None  # ivf: trained centroids
    graph: GraphRef | None = None  # hnsw: the saved graph

    @property
    def spec(self) -> AnnSpec:
        return AnnSpec(**self.model_dump(exclude={"centroids", "graph"}))


def ann_record(record: VectorsRecord, which: str) -> AnnRecord:
    """The entry of ``which`` in a FAISS vectors record (flat when it names none)."""
    return AnnRecord.model_validate(record.state().get(which) or {})


def default_nlist(n: int) -> int:
    """About 4·√n lists, a power of two, between 64 and 65,536."""
    return int(min(65_536, max(64, 2 ** round(math.log2(4 * math.sqrt(max(n, 1)))))))


@dataclass(frozen=True)
class AnnPolicy:
    """How a FAISS store picks its kind (the ``QA_ANN*`` settings)."""

    mode: str  # auto | flat | ivf | hnsw | pq | rabitq
    flat_max: int
    nprobe: int
    ef_search: int
    m: int
    candidates: int  # 0: the kind's default

    @classmethod
    def from_settings(cls, settings: Settings) -> AnnPolicy:
        return cls(
            settings.ann,
            settings.ann_flat_max,
            settings.ann_nprobe,
            settings.ann_ef_search,
            settings.ann_hnsw_m,
            settings.ann_candidates,
        )

    def spec(self, n: int, current: AnnSpec) -> AnnSpec:
        """The spec a store of ``n`` vectors should have; ``current`` is kept unless it no
        longer fits (so a growing ivf index retrains only when it has grown fourfold)."""
        want = self._kind(n, current)
        if want == "flat":
            return AnnSpec(kind="flat")
        if want == "hnsw":
            # ef_search is a search-time knob: changing it keeps the graph (same_structure)
            return AnnSpec(
                kind="hnsw",
                m=self.m,
                ef_search=self.ef_search,
                ef_construction=HNSW_EF_CONSTRUCTION,
            )
        if want in CODE_KINDS:  # the number of candidates is a search-time knob too
            return AnnSpec(kind=want, candidates=self.candidates or CANDIDATES[want])
        if (
            current.kind == "ivf"
            and current.nprobe == self.nprobe
            and current.trained_on > 0
            and n <= 4 * current.trained_on
        ):
            return current
        return AnnSpec(kind="ivf", nlist=default_nlist(n), nprobe=self.nprobe, trained_on=n)

    def _kind(self, n: int, current: AnnSpec) -> Kind:
        if self.mode == "auto":
            if current.kind != "flat":
                return "flat" if n < self.flat_max // 2 else "pq"
            return "pq" if n > self.flat_max else "flat"
        if self.mode in get_args(Kind):
            return self.mode  # type: ignore[return-value]
        raise ValueError(
            f"unknown vector index kind {self.mode!r} (auto, flat, ivf, hnsw, pq or rabitq)"
        )


def same_structure(a: AnnSpec, b: AnnSpec) -> bool:
    """Whether an index built for ``a`` serves ``b`` once its search parameters change."""
    if a.kind == b.kind == "hnsw":
        return (a.m, a.ef_construction) == (b.m, b.ef_construction)
    if a.kind == b.kind and a.kind in CODE_KINDS:
        return True
    return a == b
