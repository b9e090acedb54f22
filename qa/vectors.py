"""Where the vectors live: a small interface, two backends, one factory.

* ``faiss`` (default) — :class:`qa.ann.VectorIndex` in the process: nothing to run, the
  fastest at small and medium sizes; graphs and centroids are saved beside the segments.
* ``milvus`` — :class:`qa.milvus.MilvusVectors`: a collection in Milvus Lite (a local
  ``.db`` folder, embedded) or in a Milvus server or cluster (``http://host:19530``).

An index has two vector stores, one for its passages (``chunks``) and one for its
sentences. The rest of the pipeline (chunking, embedding, the lexical index, fusion,
citations, highlights) talks to them only through :class:`VectorStore`. Either way the
segments keep every vector, so switching backend (``qa migrate``) never re-embeds, and the
texts, offsets and metadata that results are served with stay in the index folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from qa.ann import AnnSpec, VectorIndex
from qa.filters import Filters
from qa.store import AnnData, StoredDocument

if TYPE_CHECKING:
    from qa.core.config import Settings

BackendKind = Literal["faiss", "milvus"]
VECTOR_KINDS = ("chunks", "sentences")


class VectorStore(Protocol):
    """Global id → vector of one kind (passages or sentences), searchable by inner product."""

    def add(
        self, ids: np.ndarray, vectors: np.ndarray, docs: Sequence[StoredDocument] | None = None
    ) -> None:
        """Store ``vectors`` under ``ids``; ``docs``: the document of each row (the fields
        a filter reads)."""
        ...

    def remove(self, ids: np.ndarray) -> None: ...

    def search(
        self,
        query: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        where: Filters | None = None,
    ) -> list[tuple[int, float]]:
        """Ids and inner products of the ``k`` nearest vectors, best first. ``allowed`` (the
        ids) and ``where`` (the filters) name the same set, chosen before the top-k; a backend
        uses the form it can push down."""
        ...

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids``, one row each, in that order."""
        ...

    def count(self) -> int:
        """Live vectors."""
        ...

    def configure(self, manifest: dict[str, Any], which: str) -> None:
        """Take the search-time settings of a newly committed ``manifest``."""
        ...

    def settle(self, live: np.ndarray, repair: bool = True) -> None:
        """After loading (the vectors of the segments were passed to :meth:`add`): make the
        store hold exactly the ``live`` ids; ``repair=False`` (a reader without the index
        folder's lock) changes nothing outside the process."""
        ...

    def persist(self) -> None:
        """Make what was added or removed durable."""
        ...


class VectorBackend(Protocol):
    """Opens and creates the vector stores of an index."""

    kind: BackendKind

    def open(self, which: str, manifest: dict[str, Any], dim: int, ann: AnnData) -> VectorStore:
        """The store ``manifest`` names for ``which``, ready to be filled by loading."""
        ...

    def discard(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        """Drop what ``before`` named and ``after`` no longer does (after a commit)."""
        ...


def backend_of(manifest: dict[str, Any]) -> BackendKind:
    """The backend holding an index's vectors (indexes written before there was a choice
    hold them in FAISS)."""
    return (manifest.get("vector_store") or {}).get("kind", "faiss")


class FaissBackend:
    """Vectors in FAISS, in the process (see :mod:`qa.ann`)."""

    kind: BackendKind = "faiss"

    def open(self, which: str, manifest: dict[str, Any], dim: int, ann: AnnData) -> VectorIndex:
        spec = AnnSpec.from_record((manifest.get("ann") or {}).get(which))
        return VectorIndex(dim, spec, ann.centroids, ann.graph)

    def discard(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        """Nothing: the saved graphs and centroids are files of the store."""


def make_backend(settings: Settings, kind: BackendKind | None = None) -> VectorBackend:
    """The backend ``kind`` (default: ``settings.vector_store``), connected as the settings
    say."""
    kind = kind or settings.vector_store
    if kind == "faiss":
        return FaissBackend()
    from qa.milvus import MilvusBackend, MilvusOptions

    return MilvusBackend(MilvusOptions.from_settings(settings))


def default_milvus_uri(index_dir: Path) -> str:
    """Milvus Lite inside the index folder: copied, moved and deleted with it."""
    return str(Path(index_dir).resolve() / "milvus.db")
