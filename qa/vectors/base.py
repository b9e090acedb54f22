"""Where the vectors live: the interface every vector backend implements.

An index has two vector stores, one for its passages (``chunks``) and one for its sentences;
each maps global integer ids to L2-normalised vectors and answers inner-product top-k
queries, optionally restricted to some documents. The rest of the pipeline talks to them
only through :class:`VectorStore`, and to the backend that opens and changes them only
through :class:`VectorBackend` and :class:`VectorTransaction`.

A write changes the vectors in three steps around the manifest's commit:

1. :meth:`VectorTransaction.prepare` — before the commit: everything the new state needs
   exists (new vectors staged where searches cannot see them yet, indexes rebuilt off to
   the side, files written); returns the backend's record for the new manifest and the
   stores that replace the live ones;
2. the manifest commits, then the index publishes the new state: replaced stores swap in,
   the others take the change in place (:meth:`VectorStore.add`, :meth:`VectorStore.remove`);
3. :meth:`VectorTransaction.commit` — what only the old state used goes (files,
   collections); or, when the manifest did not commit, :meth:`VectorTransaction.abort`
   undoes step 1.

The segments keep every vector too, as the record of truth: switching backend never
re-embeds, and the texts, offsets and metadata results are served with stay in the index
folder.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from qa.store import Blobs, Filters, StoredDocument, VectorsRecord

VectorKind = Literal["chunks", "sentences"]
VECTOR_KINDS: tuple[VectorKind, VectorKind] = ("chunks", "sentences")
# HNSW graphs (FAISS and Milvus): candidates kept while linking a new vector.
HNSW_EF_CONSTRUCTION = 100


@dataclass(frozen=True)
class Rows:
    """Vectors under their ids, with the document of each row (the fields a filter reads)."""

    ids: np.ndarray  # int64
    vectors: np.ndarray  # float32, one row per id
    docs: Sequence[StoredDocument]

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def empty(cls, dim: int) -> Rows:
        return cls(np.zeros(0, dtype=np.int64), np.zeros((0, dim), dtype=np.float32), ())

    @classmethod
    def concat(cls, parts: Sequence[Rows], dim: int) -> Rows:
        if not parts:
            return cls.empty(dim)
        return cls(
            np.concatenate([p.ids for p in parts]).astype(np.int64, copy=False),
            np.ascontiguousarray(np.vstack([p.vectors for p in parts]), dtype=np.float32),
            [d for p in parts for d in p.docs],
        )


@dataclass(frozen=True)
class VectorChange:
    """What one write does to one vector store."""

    added: Rows
    removed: np.ndarray  # ids leaving
    count: int  # live vectors once the write is done
    state: Callable[[], Rows]  # every row of the new state (read only to build a store anew)


@dataclass(frozen=True)
class Prepared:
    """What :meth:`VectorTransaction.prepare` made ready."""

    record: VectorsRecord  # the backend's record in the new manifest
    stores: Mapping[VectorKind, VectorStore]  # replacing the live ones at publish


class VectorStore(ABC):
    """Global id → vector of one kind (passages or sentences), searchable by inner product."""

    @abstractmethod
    def add(self, rows: Rows) -> None:
        """Store ``rows``."""

    def add_block(
        self,
        ids: np.ndarray,
        block: Any,
        rows: np.ndarray | None,
        docs: Sequence[StoredDocument],
    ) -> None:
        """Store rows ``rows`` of ``block`` (``None``: every row) under ``ids``: a segment's
        vectors (an array, or :class:`~qa.store.ondisk.FileVectors`). A store that reads
        vectors where they lie keeps the block rather than a copy."""
        vectors = np.asarray(block if rows is None else block[rows], dtype=np.float32)
        self.add(Rows(ids, vectors, docs))

    @abstractmethod
    def remove(self, ids: np.ndarray) -> None:
        """Forget ``ids``."""

    @abstractmethod
    def search(
        self,
        query: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        where: Filters | None = None,
    ) -> list[tuple[int, float]]:
        """Ids and inner products of the ``k`` nearest vectors, best first. ``allowed`` (the
        ids) and ``where`` (the filters) name the same set, chosen before the top-k; a store
        uses the form it can push down."""

    def search_many(
        self,
        queries: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        where: Filters | None = None,
    ) -> list[list[tuple[int, float]]]:
        """:meth:`search` for each row of ``queries`` (a store that can share the work
        between them does)."""
        return [self.search(q, k, allowed, where) for q in np.atleast_2d(queries)]

    @abstractmethod
    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids``, one row each, in that order."""

    @abstractmethod
    def count(self) -> int:
        """Live vectors."""

    def prepare(self) -> None:
        """Get ready to be searched now rather than at the first search (after loading)."""

    def takes_back(self) -> bool:
        """Whether an id removed can be added again at once (merging segments moves
        documents that way)."""
        return True

    def configure(self, record: VectorsRecord, which: VectorKind, next_id: int) -> None:
        """Take the settings of a newly committed state: its vectors record, and the first
        id no committed write has used (for a store that may hold uncommitted rows)."""

    def settle(self, live: np.ndarray, repair: bool) -> None:
        """After loading (the segments' rows were passed to :meth:`add`): make the store
        hold exactly the ``live`` ids; without ``repair`` (a reader without the index
        folder's lock) change nothing outside the process."""


class VectorTransaction(ABC):
    """One write's change to both vector stores (see the module docstring)."""

    @abstractmethod
    def prepare(self) -> Prepared: ...

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def abort(self) -> None: ...


class VectorBackend(ABC):
    """Opens an index's vector stores and changes them, write by write."""

    kind: ClassVar[str]

    @abstractmethod
    def empty_record(self) -> VectorsRecord:
        """The record of an index holding no vectors yet."""

    @abstractmethod
    def open(self, record: VectorsRecord, which: VectorKind, dim: int, blobs: Blobs) -> VectorStore:
        """The store ``record`` names for ``which``, ready to be filled by loading."""

    @abstractmethod
    def begin(
        self,
        record: VectorsRecord,
        live: Mapping[VectorKind, VectorStore],
        changes: Mapping[VectorKind, VectorChange],
        dim: int,
        blobs: Blobs,
        rebuild: bool = False,
    ) -> VectorTransaction:
        """The transaction taking the stores ``record`` describes (``live``, in memory) to
        the state ``changes`` describe; ``rebuild``: build every store anew from the
        state's rows (a new index kind, another backend)."""

    @abstractmethod
    def discard(self, old: VectorsRecord, new: VectorsRecord | None, blobs: Blobs) -> None:
        """Drop what ``old`` names and ``new`` does not (once ``new`` is committed)."""

    def follows(self, old: VectorsRecord, new: VectorsRecord) -> bool:
        """Whether stores opened for ``old`` that are given the rows written since
        (:meth:`VectorStore.add`, :meth:`VectorStore.remove`) answer as stores opened for
        ``new`` would: a process following another's commits then applies them rather
        than reloading everything. No, unless the backend says so."""
        return False

    def collect_garbage(self, record: VectorsRecord, blobs: Blobs) -> None:
        """Remove leftovers of interrupted writes that ``record`` does not name (called with
        the index folder's lock)."""

    def unavailable(self, record: VectorsRecord) -> str | None:
        """Why the stores ``record`` names cannot be searched now (``None``: they can)."""
        return None

    def close(self) -> None:
        """Release connections."""


class EmptyStore(VectorStore):
    """The store of an index with no vectors yet, for backends whose stores are created by
    the first write."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def add(self, rows: Rows) -> None:
        if len(rows):
            raise RuntimeError("an empty store takes no vectors; the first write creates one")

    def remove(self, ids: np.ndarray) -> None:
        """Nothing to remove."""

    def search(
        self,
        query: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        where: Filters | None = None,
    ) -> list[tuple[int, float]]:
        return []

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        if len(ids):
            raise KeyError(f"no vector {int(ids[0])} in an empty store")
        return np.zeros((0, self.dim), dtype=np.float32)

    def count(self) -> int:
        return 0
