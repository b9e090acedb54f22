"""Vectors in FAISS, in the process: the default backend.

Each store's kind is chosen by :class:`~qa.vectors.faiss.spec.AnnPolicy` from its size at
every write. A write whose kind stays the same changes the live stores in place (at
publish); one whose kind changes builds the new store off to the side from every vector
of the new state, training ivf centroids or linking an hnsw graph first. Centroids and
graphs are files beside the segments (``ann/``), named with their checksums in the
manifest: loading never retrains or relinks. An hnsw graph is saved again once the writes
since its save (replayed from the segments at load) pass ``GRAPH_RESAVE`` of it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from qa.store import Blobs, FileRef, VectorsRecord
from qa.store.segments import npy
from qa.vectors.base import (
    VECTOR_KINDS,
    Prepared,
    VectorBackend,
    VectorChange,
    VectorKind,
    VectorStore,
    VectorTransaction,
)
from qa.vectors.faiss.flat import FlatIndex
from qa.vectors.faiss.index import VectorIndex, make_index, train_centroids
from qa.vectors.faiss.spec import AnnPolicy, AnnRecord, GraphRef, same_structure

# A saved hnsw graph is saved again once the vectors added to or removed from the store
# since pass this share of it (loading replays that difference from the segments).
GRAPH_RESAVE = 0.1


class FaissRecord(BaseModel):
    """The manifest's vectors record of a FAISS index: each store's kind and files."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chunks: AnnRecord = AnnRecord()
    sentences: AnnRecord = AnnRecord()

    @classmethod
    def parse(cls, record: VectorsRecord) -> FaissRecord:
        return cls.model_validate(record.state())

    def of(self, which: VectorKind) -> AnnRecord:
        return self.chunks if which == "chunks" else self.sentences

    def files(self) -> set[str]:
        """The files (relative to the index folder) this record names."""
        return {
            ref.file
            for entry in (self.chunks, self.sentences)
            for ref in (entry.centroids, entry.graph)
            if ref is not None
        }

    def to_record(self) -> VectorsRecord:
        return VectorsRecord(
            kind=FaissBackend.kind,
            **{which: _dump(self.of(which)) for which in VECTOR_KINDS},
        )


def _dump(entry: AnnRecord) -> dict[str, object]:
    files = entry.model_dump(include={"centroids", "graph"}, exclude_none=True)
    return {**entry.spec.record(), **files}


class FaissBackend(VectorBackend):
    """Opens FAISS stores and changes them, write by write (see the module docstring)."""

    kind: ClassVar[str] = "faiss"

    def __init__(self, policy: AnnPolicy) -> None:
        self.policy = policy

    def empty_record(self) -> VectorsRecord:
        return FaissRecord().to_record()

    def open(
        self, record: VectorsRecord, which: VectorKind, dim: int, blobs: Blobs
    ) -> FlatIndex | VectorIndex:
        entry = FaissRecord.parse(record).of(which)
        centroids = None
        if entry.centroids is not None:
            centroids = np.load(io.BytesIO(blobs.read(entry.centroids)), allow_pickle=False)
        graph = blobs.read(entry.graph) if entry.graph is not None else None
        return make_index(dim, entry.spec, centroids, graph)

    def begin(
        self,
        record: VectorsRecord,
        live: Mapping[VectorKind, VectorStore],
        changes: Mapping[VectorKind, VectorChange],
        dim: int,
        blobs: Blobs,
        rebuild: bool = False,
    ) -> FaissTransaction:
        current = FaissRecord.parse(record) if record.kind == self.kind else FaissRecord()
        return FaissTransaction(self, current, live, changes, dim, blobs, rebuild)

    def discard(self, old: VectorsRecord, new: VectorsRecord | None, blobs: Blobs) -> None:
        keep = FaissRecord.parse(new).files() if new is not None else set()
        blobs.remove(FaissRecord.parse(old).files() - keep)

    def follows(self, old: VectorsRecord, new: VectorsRecord) -> bool:
        """The same kind of index for each store (and the same centroids): the stores live
        in the process, and another process's writes only added and removed rows."""
        a, b = FaissRecord.parse(old), FaissRecord.parse(new)
        return all(
            same_structure(a.of(w).spec, b.of(w).spec) and a.of(w).centroids == b.of(w).centroids
            for w in VECTOR_KINDS
        )

    def collect_garbage(self, record: VectorsRecord, blobs: Blobs) -> None:
        blobs.retain(FaissRecord.parse(record).files())


class FaissTransaction(VectorTransaction):
    """One write's change to the FAISS stores."""

    def __init__(
        self,
        backend: FaissBackend,
        current: FaissRecord,
        live: Mapping[VectorKind, VectorStore],
        changes: Mapping[VectorKind, VectorChange],
        dim: int,
        blobs: Blobs,
        rebuild: bool,
    ) -> None:
        self.policy, self.current, self.live = backend.policy, current, live
        self.changes, self.dim, self.blobs, self.rebuild = changes, dim, blobs, rebuild
        self.written: list[str] = []  # files this write added
        self.new: FaissRecord | None = None

    def prepare(self) -> Prepared:
        """Each store's kind for the new state; where it changes (or ``rebuild``), a new
        store with every vector of the new state; an hnsw graph that has drifted from its
        saved copy is updated off to the side and saved again."""
        entries: dict[str, AnnRecord] = {}
        stores: dict[VectorKind, VectorStore] = {}
        for which in VECTOR_KINDS:
            entry, store = self._prepare(which)
            entries[which] = entry
            if store is not None:
                stores[which] = store
        self.new = FaissRecord(**entries)
        return Prepared(self.new.to_record(), stores)

    def commit(self) -> None:
        """Remove the files only the old state named."""
        if self.new is not None:
            self.blobs.remove(self.current.files() - self.new.files())

    def abort(self) -> None:
        """Remove the files this write added."""
        self.blobs.remove(self.written)

    def _prepare(self, which: VectorKind) -> tuple[AnnRecord, FlatIndex | VectorIndex | None]:
        current = self.current.of(which)
        change = self.changes[which]
        spec = self.policy.spec(change.count, current.spec)
        if not self.rebuild and same_structure(spec, current.spec):
            entry = AnnRecord(**spec.model_dump(), centroids=current.centroids, graph=current.graph)
            if spec.kind == "hnsw":
                return self._resave_graph(which, entry)
            return entry, None
        rows = change.state()
        centroids, entry = None, AnnRecord(**spec.model_dump())
        if spec.kind == "ivf":
            centroids = train_centroids(rows.vectors, spec.nlist)
            entry = AnnRecord(
                **spec.model_dump(exclude={"nlist", "trained_on"}),
                nlist=len(centroids),
                trained_on=len(rows),
                centroids=self._write(npy(centroids.astype(np.float32)), ".npy"),
            )
        store = make_index(self.dim, entry.spec, centroids)
        store.add_vectors(rows.ids, rows.vectors)
        if isinstance(store, VectorIndex) and spec.kind == "hnsw":
            entry = entry.model_copy(update={"graph": self._save_graph(store)})
        return entry, store

    def _write(self, data: bytes, suffix: str) -> FileRef:
        ref = self.blobs.write(data, suffix)
        self.written.append(ref.file)
        return ref

    def _save_graph(self, store: VectorIndex) -> GraphRef:
        ref = self._write(store.graph_bytes(), ".faiss")
        return GraphRef(
            **ref.model_dump(), vectors=int(store.faiss.ntotal), tombstones=len(store.tombstones)
        )

    def _resave_graph(
        self, which: VectorKind, entry: AnnRecord
    ) -> tuple[AnnRecord, VectorIndex | None]:
        """Save the new state's graph again when it has drifted from the saved one by more
        than ``GRAPH_RESAVE`` (built on a copy, so queries keep the live one until the
        commit)."""
        live = self.live[which]
        assert isinstance(live, VectorIndex)
        change = self.changes[which]
        saved = entry.graph
        before = int(saved.vectors) if saved else 0
        # vectors added and removed since the save, then by this write
        drift = (
            int(live.faiss.ntotal)
            - before
            + len(live.tombstones)
            - (saved.tombstones if saved else 0)
            + len(change.removed)
            + len(change.added)
        )
        if saved is not None and drift <= GRAPH_RESAVE * max(before, 1):
            return entry, None
        copy = live.copy()
        copy.remove(change.removed)
        copy.add_vectors(change.added.ids, change.added.vectors)
        copy = copy.compacted()
        return entry.model_copy(update={"graph": self._save_graph(copy)}), copy
