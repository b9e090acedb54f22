"""The five Milvus collections of a replicated collection, read and written row by row:
every call to Milvus this mode makes goes through :class:`Catalog` (its failures become
one readable :class:`~qa.core.errors.VectorStoreError`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.collection.milvus.schema import collection_names, create_collections
from qa.core.errors import (
    ChangedWhileReadError,
    IndexMismatchError,
)
from qa.milvus.connection import MilvusConnection
from qa.milvus.expressions import quote
from qa.store import Manifest
from qa.store.manifest import ManifestError, parse

if TYPE_CHECKING:
    from pymilvus import MilvusClient

BATCH = 1_000  # rows per upsert / get call
MAX_LIMIT = 16_384  # Milvus's largest limit
MANIFEST_KEY = "manifest"


class _NoSessionTs(logging.Filter):
    """Milvus Lite gives a query iterator no session timestamp; pymilvus then uses the
    client's clock, which is right here, and warns on every listing: that warning goes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "mvccTs" not in record.getMessage()


logging.getLogger("pymilvus.client.iterator.query_iterator").addFilter(_NoSessionTs())


def in_list(field: str, values: Sequence[str] | Sequence[int]) -> str:
    """``field in [...]`` with quoted strings or plain integers."""
    items = ", ".join(quote(v) if isinstance(v, str) else str(int(v)) for v in values)
    return f"{field} in [{items}]"


class Catalog:
    """The collections named by ``connection.options.prefix`` at its URI."""

    def __init__(self, connection: MilvusConnection) -> None:
        self.connection = connection
        self.names = collection_names(connection.options.prefix)

    @property
    def client(self) -> MilvusClient:
        return self.connection.client

    def reporting(self, action: str) -> AbstractContextManager[None]:
        """Milvus failures as one readable error; when Milvus has released the collections
        (it does on a restart), they are loaded again before the error goes out, so that
        the next request is served."""
        return self.connection.reloading(action, self._load_names)

    def _load_names(self) -> None:
        for name in self.names.values():
            self.client.load_collection(name)

    def load_all(self) -> None:
        """Load every collection into Milvus's memory (a no-op for those loaded)."""
        with self.connection.reporting("load collections"):
            self._load_names()

    def unavailable(self) -> str | None:
        """Why the collections cannot be searched now (``None``: they can); those Milvus
        released are loaded again on the way."""
        return self.connection.unavailable(self.names.values())

    # --------------------------------------------------------------- the collection
    def exists(self) -> bool:
        with self.reporting("list collections"):
            return all(self.client.has_collection(n) for n in self.names.values())

    def manifest(self) -> Manifest | None:
        """The collection's manifest (None: there is no collection of this name yet)."""
        if not self.exists():
            return None
        with self.reporting("read the manifest"):
            rows = self.client.get(self.names["meta"], ids=[MANIFEST_KEY], output_fields=["value"])
        if not rows:
            return None
        try:
            return parse(rows[0]["value"])
        except ManifestError as exc:
            raise IndexMismatchError(
                f"the manifest in Milvus collection {self.names['meta']!r} {exc}; point "
                "QA_MILVUS_COLLECTION at another prefix"
            ) from exc

    def create(self, manifest: Manifest) -> None:
        """Create the collections (those missing) and record ``manifest`` in them."""
        options = self.connection.options
        with self.reporting("create collections"):
            create_collections(
                self.client,
                options.prefix,
                manifest.model.dim,
                options.index_type,
                options.vector_build_params(),
                options.consistency,
            )
        row = {"key": MANIFEST_KEY, "vector": [1.0, 0.0], "value": manifest.to_json()}
        self.upsert("meta", [row])
        self.flush(["meta"])

    # --------------------------------------------------------------------- writes
    def upsert(self, kind: str, rows: Sequence[dict[str, Any]]) -> None:
        """Write ``rows``, replacing those of the same keys."""
        with self.reporting(f"write {kind}"):
            for start in range(0, len(rows), BATCH):
                self.client.upsert(self.names[kind], list(rows[start : start + BATCH]))

    def insert(self, kind: str, rows: Sequence[dict[str, Any]]) -> None:
        """Write ``rows`` under keys no row has (cheaper than :meth:`upsert`)."""
        with self.reporting(f"write {kind}"):
            for start in range(0, len(rows), BATCH):
                self.client.insert(self.names[kind], list(rows[start : start + BATCH]))

    def delete(self, kind: str, expression: str) -> None:
        with self.reporting(f"delete {kind}"):
            self.client.delete(self.names[kind], filter=expression)

    def flush(self, kinds: Sequence[str]) -> None:
        """Make what was written durable (and, on Milvus Lite, fast to search)."""
        with self.reporting("flush"):
            for kind in kinds:
                self.client.flush(self.names[kind])

    # ---------------------------------------------------------------------- reads
    def heads(self, doc_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The committed heads of those of ``doc_ids`` that exist."""
        out: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(doc_ids))
        with self.reporting("read documents"):
            for start in range(0, len(unique), BATCH):
                rows = self.client.query(  # not get(ids=): pymilvus does not escape quotes
                    self.names["documents"],
                    filter=in_list("key", unique[start : start + BATCH]),
                    output_fields=["doc_id", "version", "source", "head"],
                )
                out.update((row["doc_id"], row) for row in rows)
        return out

    def all_heads(self) -> Iterator[dict[str, Any]]:
        """Every head, in no particular order."""
        return self.scan("documents", ["doc_id", "version", "source", "head"])

    def scan(
        self, kind: str, fields: Sequence[str], expression: str = ""
    ) -> Iterator[dict[str, Any]]:
        """Every row of ``kind`` that ``expression`` selects, in no particular order."""
        with self.reporting(f"list {kind}"):
            iterator = self.client.query_iterator(
                self.names[kind], batch_size=BATCH, filter=expression, output_fields=list(fields)
            )
            try:
                while batch := iterator.next():
                    yield from batch
            finally:
                iterator.close()

    def get(self, kind: str, ids: Sequence[int], fields: Sequence[str]) -> list[dict[str, Any]]:
        """Rows ``ids`` of the passages or sentences (those that exist)."""
        out: list[dict[str, Any]] = []
        with self.reporting(f"read {kind}"):
            for start in range(0, len(ids), BATCH):
                batch = [int(i) for i in ids[start : start + BATCH]]
                out.extend(self.client.get(self.names[kind], ids=batch, output_fields=list(fields)))
        return out

    def count(self, kind: str, expression: str = "") -> int:
        with self.reporting(f"count {kind}"):
            rows = self.client.query(
                self.names[kind], filter=expression, output_fields=["count(*)"]
            )
        return int(rows[0]["count(*)"])

    def text(self, version: int, parts: int) -> str:
        """A document version's text, from its parts."""
        keys = [f"{version}.{n}" for n in range(parts)]
        with self.reporting("read texts"):
            rows = self.client.get(self.names["texts"], ids=keys, output_fields=["text"])
        found = {row["key"]: row["text"] for row in rows}
        if len(found) != parts:  # replaced or deleted since this request read its head
            raise ChangedWhileReadError("a document changed while this request read it; ask again")
        return "".join(found[k] for k in keys)

    def search(
        self,
        kind: str,
        data: np.ndarray | str,
        field: str,
        k: int,
        expression: str,
        fields: Sequence[str],
    ) -> list[tuple[int, float, dict[str, Any]]]:
        """The ``k`` best rows for a query vector (``field="vector"``) or for encoded terms
        (``field="lexical"``): id, score (higher is better) and ``fields``."""
        return self.search_many(kind, [data], field, k, expression, fields)[0]

    def search_many(
        self,
        kind: str,
        queries: Sequence[np.ndarray | str],
        field: str,
        k: int,
        expression: str,
        fields: Sequence[str],
    ) -> list[list[tuple[int, float, dict[str, Any]]]]:
        """:meth:`search` for each of ``queries``, in one request."""
        if field == "lexical":
            data: list[Any] = list(queries)
            params: dict[str, Any] = {"metric_type": "BM25"}
        else:
            data = [np.asarray(q, dtype=np.float32).reshape(-1).tolist() for q in queries]
            params = self.connection.options.vector_search_params(k)
        with self.reporting(f"search {kind}"):
            result = self.client.search(
                self.names[kind],
                data=data,
                anns_field=field,
                limit=min(k, MAX_LIMIT),
                filter=expression,
                search_params=params,
                output_fields=list(fields),
            )
        # BM25 scores come back negated from Milvus Lite, positive from a server
        out = []
        for hits in result:
            found = []
            for hit in hits:
                score = float(hit["distance"])
                score = abs(score) if field == "lexical" else score
                found.append((int(hit["id"]), score, hit["entity"]))
            out.append(found)
        return out
