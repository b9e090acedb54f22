"""Where the service's collection lives — an index folder, or a collection held whole in
Milvus (:mod:`qa.replica`) — and how it is opened and created there. The settings decide
(:func:`qa.replica.replica_mode`); the service asks this module and nothing else."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from qa.core.config import Settings
from qa.core.errors import IndexMismatchError
from qa.embed import Embedder
from qa.index import Collection, corpus_language
from qa.ingest import Document
from qa.replica import ReplicaCollection, catalog_of, copy_folder, new_collection, replica_mode
from qa.store import Chunking, Store
from qa.vectors import make_backend

AnyCollection = Collection | ReplicaCollection
__all__ = [
    "AnyCollection",
    "collection_exists",
    "copy_folder",
    "create_collection",
    "in_folder",
    "kept_in",
    "open_collection",
    "replica_mode",
    "where",
]


def kept_in(settings: Settings, folder: Path) -> Settings:
    """``settings`` for a collection of its own kept in ``folder`` — or, when collections
    are held whole in Milvus, in the Milvus collection named after it."""
    settings = settings.model_copy(update={"index_dir": folder})
    if replica_mode(settings):
        prefix = re.sub(r"\W", "_", f"{settings.milvus_collection}_{folder.name}")
        settings = settings.model_copy(update={"milvus_collection": prefix})
    return settings


def collection_exists(settings: Settings) -> bool:
    """Whether the collection ``settings`` name has been created."""
    if replica_mode(settings):
        return catalog_of(settings).manifest() is not None
    return Store(settings.index_dir).exists()


def where(settings: Settings) -> str:
    """Where the collection is kept, for messages."""
    if replica_mode(settings):
        return f"Milvus collection {settings.milvus_collection!r} at {settings.milvus_uri}"
    return f"{settings.index_dir}/"


def open_collection(
    settings: Settings, embedder: Embedder | None, writable: bool, follow_index: bool = False
) -> AnyCollection:
    """The collection ``settings`` name; ``follow_index``: an index folder with the vector
    store its manifest names, whatever the settings say (to move it elsewhere)."""
    if replica_mode(settings) and not follow_index:
        return ReplicaCollection.open(catalog_of(settings), embedder)
    kind = Store(settings.index_dir).read_manifest().vectors.kind if follow_index else None
    return Collection.open(settings.index_dir, make_backend(settings, kind), embedder, writable)


def create_collection(
    settings: Settings,
    embedder: Embedder,
    documents: Sequence[Document],
    language: str | None = None,
    progress: bool = False,
    replace: bool = True,
) -> AnyCollection:
    """The collection ``settings`` name, holding ``documents`` and nothing else (those it
    held that ``documents`` does not are only dropped with ``replace``)."""
    if replica_mode(settings):
        language = language or corpus_language([d.text for d in documents])
        replica = new_collection(settings, embedder, documents, language)
        if documents:
            replica.build(documents, progress, replace)
        return replica
    return Collection.create(
        settings.index_dir,
        make_backend(settings),
        embedder,
        documents,
        Chunking(size=settings.chunk_size, overlap=settings.chunk_overlap),
        language,
        progress,
        settings.companion,
        replace,
    )


def in_folder(collection: AnyCollection, action: str) -> Collection:
    """``collection``, which must be an index folder's to ``action`` it."""
    if isinstance(collection, ReplicaCollection):
        raise IndexMismatchError(
            f"cannot {action} a collection held whole in Milvus ({collection.where}); "
            "Milvus's own tools back it up, and its vector index is Milvus's own "
            "(QA_MILVUS_INDEX when it is created)"
        )
    return collection
