"""Vectors in Milvus (``QA_VECTOR_STORE=milvus``): two collections per index, passages and
sentences, named in the manifest's vectors record.

A write whose index already has its collections stages its new vectors in them before the
manifest commits (invisible until then, see :mod:`qa.vectors.milvus.store`) and
deletes the replaced ones at publish; a new index, a rebuild or a migration fills new
collections with every vector of the new state, and the old ones are dropped once the
manifest names the new.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from qa.core.errors import IndexMismatchError
from qa.milvus.connection import MilvusConnection, MilvusOptions
from qa.milvus.expressions import ID_FIELD, VECTOR_FIELD, add_filter_fields
from qa.store import Blobs, VectorsRecord
from qa.vectors.base import (
    VECTOR_KINDS,
    EmptyStore,
    Prepared,
    VectorBackend,
    VectorChange,
    VectorKind,
    VectorStore,
    VectorTransaction,
)
from qa.vectors.milvus.store import MilvusVectors


class MilvusRecord(BaseModel):
    """The manifest's vectors record of a Milvus index."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: str | None = None  # the vector index type the collections were created with
    collections: dict[str, str] = {}  # chunks / sentences -> collection name

    @classmethod
    def parse(cls, record: VectorsRecord) -> MilvusRecord:
        if record.kind != MilvusBackend.kind:
            return cls()
        return cls.model_validate(record.state())

    def to_record(self) -> VectorsRecord:
        return VectorsRecord(kind=MilvusBackend.kind, **self.model_dump(exclude_none=True))


class MilvusBackend(VectorBackend):
    """Opens, creates and drops the Milvus collections of an index."""

    kind: ClassVar[str] = "milvus"

    def __init__(self, options: MilvusOptions) -> None:
        self.options = options
        self.connection = MilvusConnection(options)

    def empty_record(self) -> VectorsRecord:
        return MilvusRecord().to_record()

    def open(self, record: VectorsRecord, which: VectorKind, dim: int, blobs: Blobs) -> VectorStore:
        """The collection ``record`` names for ``which`` (an index that names none has no
        vectors yet: its first write creates the collections)."""
        name = MilvusRecord.parse(record).collections.get(which)
        if not name:
            return EmptyStore(dim)
        client = self.connection.client
        with self.connection.reporting(f"open collection {name}"):
            if not client.has_collection(name):
                raise IndexMismatchError(
                    f"the index's vectors are in Milvus collection {name!r}, which the Milvus "
                    f"at {self.options.uri} does not have; point QA_MILVUS_URI at the one that "
                    "holds it, or rebuild the index"
                )
            client.load_collection(name)
        return MilvusVectors(self.connection, name, dim, loading=True)

    def create(self, which: VectorKind, dim: int) -> MilvusVectors:
        """A new, empty collection for ``which`` (a name no other write uses)."""
        from pymilvus import DataType

        name = f"{self.options.prefix}_{which}_{secrets.token_hex(6)}"
        client = self.connection.client
        with self.connection.reporting(f"create collection {name}"):
            schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field(ID_FIELD, DataType.INT64, is_primary=True)
            schema.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=dim)
            add_filter_fields(schema)
            params = client.prepare_index_params()
            params.add_index(
                VECTOR_FIELD,
                index_type=self.options.index_type,
                metric_type="IP",
                params=self.options.vector_build_params(),
            )
            client.create_collection(
                name, schema=schema, index_params=params, consistency_level=self.options.consistency
            )
            client.load_collection(name)
        return MilvusVectors(self.connection, name, dim)

    def unavailable(self, record: VectorsRecord) -> str | None:
        """Whether Milvus holds the index's collections loaded; those it released (on a
        restart) are loaded again on the way."""
        return self.connection.unavailable(MilvusRecord.parse(record).collections.values())

    def drop(self, names: Sequence[str]) -> None:
        client = self.connection.client
        with self.connection.reporting("drop collections"):
            for name in names:
                if client.has_collection(name):
                    client.drop_collection(name)

    def begin(
        self,
        record: VectorsRecord,
        live: Mapping[VectorKind, VectorStore],
        changes: Mapping[VectorKind, VectorChange],
        dim: int,
        blobs: Blobs,
        rebuild: bool = False,
    ) -> MilvusTransaction:
        return MilvusTransaction(self, MilvusRecord.parse(record), live, changes, dim, rebuild)

    def discard(self, old: VectorsRecord, new: VectorsRecord | None, blobs: Blobs) -> None:
        keep = set(MilvusRecord.parse(new).collections.values()) if new is not None else set()
        self.drop(sorted(set(MilvusRecord.parse(old).collections.values()) - keep))

    def close(self) -> None:
        self.connection.close()


class MilvusTransaction(VectorTransaction):
    """One write's change to the Milvus collections (see the module docstring)."""

    def __init__(
        self,
        backend: MilvusBackend,
        current: MilvusRecord,
        live: Mapping[VectorKind, VectorStore],
        changes: Mapping[VectorKind, VectorChange],
        dim: int,
        rebuild: bool,
    ) -> None:
        self.backend, self.current, self.live = backend, current, live
        self.changes, self.dim = changes, dim
        self.incremental = bool(current.collections) and not rebuild
        self.created: dict[VectorKind, MilvusVectors] = {}
        self.new: MilvusRecord | None = None

    def _live(self, which: VectorKind) -> MilvusVectors:
        store = self.live[which]
        assert isinstance(store, MilvusVectors)
        return store

    def prepare(self) -> Prepared:
        if self.incremental:
            for which in VECTOR_KINDS:
                added = self.changes[which].added
                if len(added):
                    self._live(which).stage(added)
                    self._live(which).persist()
            self.new = self.current
            return Prepared(self.current.to_record(), {})
        for which in VECTOR_KINDS:
            store = self.backend.create(which, self.dim)
            self.created[which] = store
            store.add(self.changes[which].state())
            store.persist()
        self.new = MilvusRecord(
            index=self.backend.options.index_type,
            collections={which: store.name for which, store in self.created.items()},
        )
        return Prepared(self.new.to_record(), dict(self.created))

    def commit(self) -> None:
        """Make the publish's deletions durable; drop the collections the old state named."""
        if self.incremental:
            for which in VECTOR_KINDS:
                if len(self.changes[which].removed):
                    self._live(which).persist()
        if self.new is not None:
            gone = set(self.current.collections.values()) - set(self.new.collections.values())
            self.backend.drop(sorted(gone))

    def abort(self) -> None:
        """Remove what :meth:`prepare` put in Milvus."""
        if self.incremental:
            for which in VECTOR_KINDS:
                self._live(which).unstage()
        self.backend.drop([store.name for store in self.created.values()])
