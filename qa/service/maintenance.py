"""Changing how an index folder keeps its vectors, nothing re-embedded: ``qa reindex`` (the
settings' index kinds) and ``qa migrate`` (another vector store, or the whole collection
into Milvus)."""

from __future__ import annotations

from qa.collection import Collection, copy_folder, replica_mode
from qa.core.config import Settings
from qa.core.errors import IndexMismatchError
from qa.store import Manifest
from qa.vectors import make_backend


def reindex(collection: Collection, settings: Settings) -> Manifest:
    """Rebuild the vector stores with the settings' index kinds."""
    folder = collection.folder("reindex")
    return folder.rebuild_vectors(make_backend(settings, folder.backend.kind))


def migrate(collection: Collection, settings: Settings, to: str, progress: bool) -> Manifest:
    """Move every vector to the vector store ``to``; to Milvus in replica mode, copy the
    index folder's whole collection there (the folder is left as it is, and its manifest
    returned)."""
    folder = collection.folder("migrate")
    if to == "milvus" and replica_mode(settings):
        with folder.snapshot() as index:
            copy_folder(index, settings, progress)
            return index.manifest
    if folder.backend.kind == to:
        raise IndexMismatchError(
            f"the index in {settings.index_dir}/ already keeps its vectors in {to}"
        )
    return folder.rebuild_vectors(make_backend(settings, to))
