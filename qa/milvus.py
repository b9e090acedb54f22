"""Vectors in Milvus: Milvus Lite (a local ``.db`` folder, in the process) or a Milvus
server or cluster (``http://host:19530``), chosen by URI; ``pymilvus`` speaks to both.

Each index has two Milvus collections (passages and sentences), named in its manifest.
A row is a vector under its global id, with the fields a query filter reads: ``doc_id``,
``source``, ``published`` (days since 0001-01-01, 0 when unknown) and ``tags`` (one
``[key, type, value]`` JSON string per metadata entry, so that a metadata filter matches
value *and* type, as it does on FAISS). :func:`filter_expression` turns the filters of
``POST /query`` into a Milvus boolean expression: the engine applies it before its top-k.

Writes keep the index folder the record of truth. A write upserts its new vectors before
the manifest commits, under ids no committed state has used; searches exclude ids at or
above the committed ``next_ids`` (``visible_below``), so a query never sees a write that
has not committed. Deleted vectors are removed after the commit. Loading compares the
collection with the manifest and repairs the difference an interrupted write left
(:meth:`MilvusVectors.settle`); vectors come from the segments, never re-embedded.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.ann import AnnSpec, VectorIndex
from qa.core.errors import IndexMismatchError, IngestError, VectorStoreError
from qa.filters import Filters
from qa.store import AnnData, StoredDocument
from qa.vectors import BackendKind, default_milvus_uri

if TYPE_CHECKING:
    from pymilvus import MilvusClient

    from qa.core.config import Settings

MAX_TAGS = 256  # metadata entries per document
MAX_FIELD = 65_535  # characters of a doc_id, source or metadata entry
MAX_TOPK = 16_384  # Milvus's largest limit
BATCH = 2_000  # rows per insert/get/delete call
ID_FIELD, VECTOR_FIELD = "id", "vector"


@dataclass(frozen=True)
class MilvusOptions:
    """Connection and index settings (``QA_MILVUS_*``; see :class:`qa.core.config.Settings`)."""

    uri: str
    token: str | None = None
    prefix: str = "qa"
    index_type: str = "HNSW"
    m: int = 32
    ef_construction: int = 100
    ef_search: int = 512
    consistency: str = "Strong"

    @classmethod
    def from_settings(cls, settings: Settings) -> MilvusOptions:
        return cls(
            settings.milvus_uri or default_milvus_uri(settings.index_dir),
            settings.milvus_token.get_secret_value() if settings.milvus_token else None,
            settings.milvus_collection,
            settings.milvus_index,
            settings.ann_hnsw_m,
            100,
            settings.ann_ef_search,
            settings.milvus_consistency,
        )

    @property
    def is_lite(self) -> bool:
        return not self.uri.startswith(("http://", "https://", "tcp://", "unix:"))


# ------------------------------------------------------------------------ expressions
def quote(text: str) -> str:
    """A Milvus string literal."""
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def metadata_tag(key: str, value: str | int | float | bool) -> str:
    """One metadata entry as stored in ``tags`` (type included: ``1``, ``1.0`` and ``true``
    are different values, as in :meth:`qa.filters.Filters.accepts`)."""
    if isinstance(value, float):
        value = value + 0.0  # -0.0 == 0.0
    return json.dumps([key, type(value).__name__, value], ensure_ascii=False)


def published_day(published: str | None) -> int:
    return date.fromisoformat(published).toordinal() if published else 0


def filter_expression(filters: Filters | None) -> str:
    """``filters`` as a Milvus boolean expression ("" when they accept everything)."""
    if filters is None:
        return ""
    parts: list[str] = []
    if filters.doc_ids is not None:
        if not filters.doc_ids:
            return f"{ID_FIELD} < 0"
        parts.append(f"doc_id in [{', '.join(quote(d) for d in sorted(filters.doc_ids))}]")
    if filters.source is not None:
        parts.append(f"source == {quote(filters.source)}")
    if filters.published_after is not None:
        parts.append(f"published >= {filters.published_after.toordinal()}")
    if filters.published_before is not None:
        parts.append(f"published >= 1 and published <= {filters.published_before.toordinal()}")
    for key, value in filters.metadata:
        parts.append(f"array_contains(tags, {quote(metadata_tag(key, value))})")
    return " and ".join(f"({p})" for p in parts)


def rows(
    ids: np.ndarray, vectors: np.ndarray, docs: Sequence[StoredDocument]
) -> list[dict[str, Any]]:
    """Milvus rows for ``vectors`` under ``ids``, with the filter fields of their documents."""
    fields: dict[str, tuple[str, str, int, list[str]]] = {}
    for doc in docs:
        if doc.doc_id not in fields:
            tags = [metadata_tag(k, v) for k, v in sorted(doc.metadata.items())]
            too_long = [t for t in (doc.doc_id, doc.source, *tags) if len(t) > MAX_FIELD]
            if len(tags) > MAX_TAGS or too_long:
                raise IngestError(
                    f"document {doc.doc_id!r} does not fit the Milvus store: at most "
                    f"{MAX_TAGS} metadata entries and {MAX_FIELD} characters per id, source "
                    "or entry"
                )
            fields[doc.doc_id] = (doc.doc_id, doc.source, published_day(doc.published), tags)
    out = []
    for i, vector, doc in zip(ids.tolist(), vectors, docs, strict=True):
        doc_id, source, published, tags = fields[doc.doc_id]
        out.append(
            {
                ID_FIELD: int(i),
                VECTOR_FIELD: vector,
                "doc_id": doc_id,
                "source": source,
                "published": published,
                "tags": tags,
            }
        )
    return out


@contextmanager
def reporting(action: str, uri: str) -> Iterator[None]:
    """Milvus failures as one readable :class:`VectorStoreError`."""
    try:
        yield
    except (IngestError, IndexMismatchError):
        raise
    except Exception as exc:  # pymilvus raises MilvusException, grpc errors, OSError...
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        raise VectorStoreError(
            f"Milvus at {uri} failed to {action}: {message.splitlines()[0]} "
            "(check QA_MILVUS_URI / QA_MILVUS_TOKEN and that the server is up)"
        ) from exc


# ---------------------------------------------------------------------------- backend
class MilvusBackend:
    """Opens, creates and drops the Milvus collections of an index."""

    kind: BackendKind = "milvus"

    def __init__(self, options: MilvusOptions) -> None:
        self.options = options
        self._client: MilvusClient | None = None

    @property
    def client(self) -> MilvusClient:
        if self._client is None:
            with reporting("connect", self.options.uri):
                from pymilvus import MilvusClient

                self._client = MilvusClient(
                    uri=self.options.uri, token=self.options.token or "", timeout=30
                )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def open(
        self, which: str, manifest: dict[str, Any], dim: int, ann: AnnData
    ) -> MilvusVectors | VectorIndex:
        """The collection the manifest names for ``which``; an index that names none (new,
        nothing stored yet) gets an empty in-process store until its first write."""
        record = manifest.get("vector_store") or {}
        name = (record.get("collections") or {}).get(which)
        if record.get("kind") != "milvus" or not name:
            return VectorIndex(dim, AnnSpec())
        with reporting(f"open collection {name}", self.options.uri):
            if not self.client.has_collection(name):
                raise IndexMismatchError(
                    f"the index's vectors are in Milvus collection {name!r}, which the Milvus "
                    f"at {self.options.uri} does not have; point QA_MILVUS_URI at the one that "
                    "holds it, or rebuild the index"
                )
            self.client.load_collection(name)
        store = MilvusVectors(self, name, dim, loading=True)
        store.configure(manifest, which)
        return store

    def create(self, which: str, dim: int) -> MilvusVectors:
        """A new, empty collection for ``which`` (a name no other write uses)."""
        from pymilvus import DataType

        name = f"{self.options.prefix}_{which}_{secrets.token_hex(6)}"
        client = self.client
        with reporting(f"create collection {name}", self.options.uri):
            schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field(ID_FIELD, DataType.INT64, is_primary=True)
            schema.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=dim)
            schema.add_field("doc_id", DataType.VARCHAR, max_length=MAX_FIELD)
            schema.add_field("source", DataType.VARCHAR, max_length=MAX_FIELD)
            schema.add_field("published", DataType.INT64)
            schema.add_field(
                "tags",
                DataType.ARRAY,
                element_type=DataType.VARCHAR,
                max_capacity=MAX_TAGS,
                max_length=MAX_FIELD,
            )
            params = client.prepare_index_params()
            build: dict[str, Any] = {}
            if self.options.index_type == "HNSW":
                build = {"M": self.options.m, "efConstruction": self.options.ef_construction}
            params.add_index(
                VECTOR_FIELD, index_type=self.options.index_type, metric_type="IP", params=build
            )
            client.create_collection(
                name,
                schema=schema,
                index_params=params,
                consistency_level=self.options.consistency,
            )
            client.load_collection(name)
        return MilvusVectors(self, name, dim)

    def drop(self, names: Sequence[str]) -> None:
        with reporting("drop collections", self.options.uri):
            for name in names:
                if self.client.has_collection(name):
                    self.client.drop_collection(name)

    @staticmethod
    def collections(manifest: dict[str, Any]) -> set[str]:
        record = manifest.get("vector_store") or {}
        if record.get("kind") != "milvus":
            return set()
        return set((record.get("collections") or {}).values())

    def discard(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        """Drop the collections ``before`` named and ``after`` no longer does."""
        self.drop(sorted(self.collections(before) - self.collections(after)))


# ---------------------------------------------------------------------------- store
class MilvusVectors:
    """One Milvus collection as a :class:`qa.vectors.VectorStore`."""

    def __init__(self, backend: MilvusBackend, name: str, dim: int, loading: bool = False):
        self.backend, self.name, self.dim = backend, name, dim
        self.visible_below: int | None = None  # ids from here on belong to uncommitted writes
        self._staged: set[int] = set()
        # while loading: what the segments hold, compared with the collection by settle()
        self._loaded: list[tuple[np.ndarray, np.ndarray, list[StoredDocument]]] | None = (
            [] if loading else None
        )

    @property
    def client(self) -> MilvusClient:
        return self.backend.client

    def _reporting(self, action: str):
        return reporting(f"{action} ({self.name})", self.backend.options.uri)

    def add(
        self, ids: np.ndarray, vectors: np.ndarray, docs: Sequence[StoredDocument] | None = None
    ) -> None:
        if docs is None:
            raise ValueError("Milvus rows need the document of each vector")
        if self._loaded is not None:
            self._loaded.append((ids, vectors, list(docs)))
            return
        fresh = np.asarray([int(i) not in self._staged for i in ids.tolist()], dtype=bool)
        self._staged.difference_update(ids.tolist())
        if fresh.any():
            self._upsert(
                ids[fresh], vectors[fresh], [d for d, f in zip(docs, fresh, strict=True) if f]
            )

    def stage(self, ids: np.ndarray, vectors: np.ndarray, docs: Sequence[StoredDocument]) -> None:
        """Upsert the vectors of a write before its commit (invisible until then); the
        :meth:`add` of the commit finds them there."""
        self._upsert(ids, vectors, docs)
        self._staged.update(ids.tolist())

    def unstage(self) -> None:
        """Remove what :meth:`stage` upserted for a write that did not commit."""
        staged, self._staged = np.fromiter(self._staged, dtype=np.int64), set()
        self.remove(staged)

    def _upsert(self, ids: np.ndarray, vectors: np.ndarray, docs: Sequence[StoredDocument]):
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with self._reporting("store vectors"):
            for start in range(0, len(ids), BATCH):
                end = start + BATCH
                self.client.upsert(
                    self.name, rows(ids[start:end], vectors[start:end], docs[start:end])
                )

    def remove(self, ids: np.ndarray) -> None:
        if not len(ids):
            return
        self._staged.difference_update(ids.tolist())
        with self._reporting("delete vectors"):
            for start in range(0, len(ids), BATCH):
                self.client.delete(self.name, ids=[int(i) for i in ids[start : start + BATCH]])

    def search(
        self,
        query: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        where: Filters | None = None,
    ) -> list[tuple[int, float]]:
        k = min(k, MAX_TOPK)
        if k <= 0:
            return []
        expr = filter_expression(where)
        if self.visible_below is not None:
            expr = " and ".join(p for p in (expr, f"{ID_FIELD} < {self.visible_below}") if p)
        options = self.backend.options
        params: dict[str, Any] = {"metric_type": "IP"}
        if options.index_type == "HNSW":
            params["params"] = {"ef": max(options.ef_search, k)}
        with self._reporting("search"):
            result = self.client.search(
                self.name,
                data=[np.asarray(query, dtype=np.float32).reshape(-1).tolist()],
                limit=k,
                filter=expr,
                search_params=params,
                anns_field=VECTOR_FIELD,
            )
        return [(int(hit["id"]), float(hit["distance"])) for hit in result[0]]

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        position = {int(i): n for n, i in enumerate(ids.tolist())}
        with self._reporting("read vectors"):
            for start in range(0, len(ids), BATCH):
                batch = [int(i) for i in ids[start : start + BATCH]]
                for row in self.client.get(self.name, ids=batch, output_fields=[VECTOR_FIELD]):
                    out[position[int(row[ID_FIELD])]] = row[VECTOR_FIELD]
        return out

    def count(self) -> int:
        with self._reporting("count"):
            result = self.client.query(self.name, filter="", output_fields=["count(*)"])
        return int(result[0]["count(*)"])

    def ids(self, below: int) -> np.ndarray:
        """Every id under ``below`` the collection holds (read by id ranges)."""
        held: list[int] = []
        with self._reporting("list ids"):
            for start in range(0, below, MAX_TOPK):
                rows = self.client.query(
                    self.name,
                    filter=f"{ID_FIELD} >= {start} and {ID_FIELD} < {start + MAX_TOPK}",
                    output_fields=[ID_FIELD],
                    limit=MAX_TOPK,
                )
                held.extend(int(row[ID_FIELD]) for row in rows)
        return np.asarray(held, dtype=np.int64)

    def _drop_uncommitted(self) -> None:
        """Remove rows at or above ``visible_below`` (upserted by a write that never
        committed)."""
        if self.visible_below is None:
            return
        while True:
            with self._reporting("query"):
                rows = self.client.query(
                    self.name,
                    filter=f"{ID_FIELD} >= {self.visible_below}",
                    output_fields=[ID_FIELD],
                    limit=MAX_TOPK,
                )
            if not rows:
                return
            self.remove(np.asarray([int(r[ID_FIELD]) for r in rows], dtype=np.int64))

    def configure(self, manifest: dict[str, Any], which: str) -> None:
        self.visible_below = int(manifest["next_ids"]["chunk" if which == "chunks" else "sentence"])

    def settle(self, live: np.ndarray, repair: bool = True) -> None:
        """End loading: when the collection does not hold exactly the ``live`` ids (a write
        interrupted between its upsert and its commit, or before its deletes), delete the
        extra rows and upsert the missing ones from the segments' vectors. Without
        ``repair`` (a reader: a writer may be between its upsert and its commit) nothing is
        changed; searches skip what the state does not hold either way."""
        loaded, self._loaded = self._loaded or [], None
        if not repair:
            return
        self._drop_uncommitted()
        if self.count() == len(live):
            return
        below = int(live.max()) + 1 if len(live) else 0
        below = max(below, self.visible_below or 0)
        held = self.ids(below)
        self.remove(held[~np.isin(held, live)])
        missing = live[~np.isin(live, held)]
        for ids, vectors, docs in loaded:
            keep = np.isin(ids, missing)
            if keep.any():
                chosen = [d for d, k in zip(docs, keep, strict=True) if k]
                self._upsert(ids[keep], vectors[keep], chosen)
        self.persist()

    def persist(self) -> None:
        with self._reporting("flush"):
            self.client.flush(self.name)
