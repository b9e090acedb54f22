"""One Milvus collection as a :class:`~qa.vectors.base.VectorStore`.

Writes keep the index folder the record of truth. A write upserts its new vectors before
the manifest commits (:meth:`MilvusVectors.stage`), under ids no committed state has
used; searches exclude ids at or above the committed ``next_ids`` (``visible_below``), so
a query never sees a write that has not committed. Deleted vectors are removed after the
commit. Loading compares the collection with the manifest and repairs the difference an
interrupted write left (:meth:`MilvusVectors.settle`), from the segments' vectors: nothing
is re-embedded.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import numpy as np

from qa.milvus.connection import MilvusConnection
from qa.milvus.expressions import ID_FIELD, VECTOR_FIELD, filter_expression
from qa.store import Filters, VectorsRecord
from qa.vectors.base import Rows, VectorKind, VectorStore
from qa.vectors.milvus.rows import milvus_rows

if TYPE_CHECKING:
    from pymilvus import MilvusClient

MAX_TOPK = 16_384  # Milvus's largest limit
BATCH = 2_000  # rows per insert/get/delete call


class MilvusVectors(VectorStore):
    """The vectors of one kind (passages or sentences) of an index, in one collection."""

    def __init__(
        self, connection: MilvusConnection, name: str, dim: int, loading: bool = False
    ) -> None:
        self.connection, self.name, self.dim = connection, name, dim
        self.visible_below: int | None = None  # ids from here on belong to uncommitted writes
        self._staged: set[int] = set()
        # while loading: what the segments hold, compared with the collection by settle()
        self._loaded: list[Rows] | None = [] if loading else None

    @property
    def client(self) -> MilvusClient:
        return self.connection.client

    def _reporting(self, action: str) -> AbstractContextManager[None]:
        """Failures as one readable error; a collection Milvus released (on a restart) is
        loaded again before the error goes out, so the next request is served."""
        return self.connection.reloading(
            f"{action} ({self.name})", lambda: self.client.load_collection(self.name)
        )

    def add(self, rows: Rows) -> None:
        if self._loaded is not None:
            self._loaded.append(rows)
            return
        fresh = np.asarray([int(i) not in self._staged for i in rows.ids.tolist()], dtype=bool)
        self._staged.difference_update(rows.ids.tolist())
        if fresh.any():
            docs = [d for d, f in zip(rows.docs, fresh, strict=True) if f]
            self._upsert(Rows(rows.ids[fresh], rows.vectors[fresh], docs))

    def stage(self, rows: Rows) -> None:
        """Upsert the rows of a write before its commit (invisible until then); the
        :meth:`add` of the publish finds them there."""
        self._upsert(rows)
        self._staged.update(rows.ids.tolist())

    def unstage(self) -> None:
        """Remove what :meth:`stage` upserted for a write that did not commit."""
        staged, self._staged = np.fromiter(self._staged, dtype=np.int64), set()
        self.remove(staged)

    def _upsert(self, rows: Rows) -> None:
        vectors = np.ascontiguousarray(rows.vectors, dtype=np.float32)
        with self._reporting("store vectors"):
            for start in range(0, len(rows), BATCH):
                end = start + BATCH
                part = Rows(rows.ids[start:end], vectors[start:end], rows.docs[start:end])
                self.client.upsert(self.name, milvus_rows(part))

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
        return self.search_many(np.reshape(query, (1, -1)), k, allowed, where)[0]

    def search_many(
        self,
        queries: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        where: Filters | None = None,
    ) -> list[list[tuple[int, float]]]:
        """:meth:`search` for each row of ``queries``, in one request."""
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        k = min(k, MAX_TOPK)
        if k <= 0:
            return [[] for _ in queries]
        expr = filter_expression(where)
        if self.visible_below is not None:
            expr = " and ".join(p for p in (expr, f"{ID_FIELD} < {self.visible_below}") if p)
        params = self.connection.options.vector_search_params(k)
        with self._reporting("search"):
            result = self.client.search(
                self.name,
                data=[q.tolist() for q in queries],
                limit=k,
                filter=expr,
                search_params=params,
                anns_field=VECTOR_FIELD,
            )
        return [[(int(hit["id"]), float(hit["distance"])) for hit in hits] for hits in result]

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
                found = self.client.query(
                    self.name,
                    filter=f"{ID_FIELD} >= {start} and {ID_FIELD} < {start + MAX_TOPK}",
                    output_fields=[ID_FIELD],
                    limit=MAX_TOPK,
                )
                held.extend(int(row[ID_FIELD]) for row in found)
        return np.asarray(held, dtype=np.int64)

    def _drop_uncommitted(self) -> None:
        """Remove rows at or above ``visible_below`` (upserted by a write that never
        committed)."""
        if self.visible_below is None:
            return
        while True:
            with self._reporting("query"):
                found = self.client.query(
                    self.name,
                    filter=f"{ID_FIELD} >= {self.visible_below}",
                    output_fields=[ID_FIELD],
                    limit=MAX_TOPK,
                )
            if not found:
                return
            self.remove(np.asarray([int(r[ID_FIELD]) for r in found], dtype=np.int64))

    def configure(self, record: VectorsRecord, which: VectorKind, next_id: int) -> None:
        self.visible_below = next_id

    def settle(self, live: np.ndarray, repair: bool) -> None:
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
        for rows in loaded:
            keep = np.isin(rows.ids, missing)
            if keep.any():
                chosen = [d for d, k in zip(rows.docs, keep, strict=True) if k]
                self._upsert(Rows(rows.ids[keep], rows.vectors[keep], chosen))
        self.persist()

    def persist(self) -> None:
        """Make what was upserted or deleted durable."""
        with self._reporting("flush"):
            self.client.flush(self.name)
