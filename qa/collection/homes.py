"""The two homes a collection can have — an index folder, or Milvus holding it whole —
and :func:`home_of`, the one place that chooses between them (the settings decide:
:func:`qa.collection.milvus.replica_mode`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from qa.collection.base import Collection, Home
from qa.collection.folder import FolderCollection
from qa.collection.milvus import MilvusCollection, catalog_of, new_collection, replica_mode
from qa.core.config import Settings
from qa.embed import Embedder
from qa.embed.companion import CompanionEncoder
from qa.index.terms import corpus_language
from qa.ingest import Document
from qa.store import Chunking, Store
from qa.vectors import make_backend


class FolderHome:
    """An index folder (``QA_INDEX_DIR``) with the settings' vector store — or, with
    ``follow_index``, the one its manifest names, whatever the settings say (to move it
    elsewhere)."""

    def __init__(self, settings: Settings, follow_index: bool = False) -> None:
        self.settings, self.follow_index = settings, follow_index

    @property
    def where(self) -> str:
        return f"{self.settings.index_dir}/"

    def exists(self) -> bool:
        return Store(self.settings.index_dir).exists()

    def open(
        self, embedder: Embedder | None, writable: bool, companion: CompanionEncoder | None
    ) -> Collection:
        folder = self.settings.index_dir
        kind = Store(folder).read_manifest().vectors.kind if self.follow_index else None
        backend = make_backend(self.settings, kind)
        return FolderCollection.open(folder, backend, embedder, writable, companion)

    def create(
        self,
        embedder: Embedder,
        documents: Sequence[Document],
        language: str | None,
        progress: bool,
        replace: bool,
        companion: CompanionEncoder | None,
    ) -> Collection:
        s = self.settings
        return FolderCollection.create(
            s.index_dir,
            make_backend(s),
            embedder,
            documents,
            Chunking(size=s.chunk_size, overlap=s.chunk_overlap),
            language,
            progress,
            companion if s.companion else None,
            replace,
        )

    def beside(self, folder: Path) -> Home:
        return FolderHome(self.settings.model_copy(update={"index_dir": folder}))


class MilvusHome:
    """A Milvus server holding the whole collection (``QA_MILVUS_URI``,
    ``QA_MILVUS_COLLECTION``), served by stateless replicas."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def where(self) -> str:
        s = self.settings
        return f"Milvus collection {s.milvus_collection!r} at {s.milvus_uri}"

    def exists(self) -> bool:
        return catalog_of(self.settings).manifest() is not None

    def open(
        self, embedder: Embedder | None, writable: bool, companion: CompanionEncoder | None
    ) -> Collection:
        return MilvusCollection.open(catalog_of(self.settings), embedder)

    def create(
        self,
        embedder: Embedder,
        documents: Sequence[Document],
        language: str | None,
        progress: bool,
        replace: bool,
        companion: CompanionEncoder | None,
    ) -> Collection:
        language = language or corpus_language([d.text for d in documents])
        collection = new_collection(self.settings, embedder, documents, language)
        if documents:
            collection.build(documents, progress, replace)
        return collection

    def beside(self, folder: Path) -> Home:
        s = self.settings
        prefix = re.sub(r"\W", "_", f"{s.milvus_collection}_{folder.name}")
        return MilvusHome(s.model_copy(update={"index_dir": folder, "milvus_collection": prefix}))


def home_of(settings: Settings, follow_index: bool = False) -> Home:
    """Where the collection ``settings`` name lives (see :class:`FolderHome` for
    ``follow_index``)."""
    if replica_mode(settings) and not follow_index:
        return MilvusHome(settings)
    return FolderHome(settings, follow_index)
