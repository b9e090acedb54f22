"""Looking after an index folder, nothing re-embedded: ``qa reindex`` (the settings' index
kinds), ``qa migrate`` (another vector store, or the whole collection into Milvus) and
``qa check`` (verify; ``--repair``: salvage what can be read)."""

from __future__ import annotations

from qa.collection import Collection, copy_folder, replica_mode
from qa.collection.folder.check import CheckReport, check_folder, repair_folder
from qa.core.config import Settings
from qa.core.errors import IndexMismatchError, QAError, VectorStoreError
from qa.store import Manifest, Store
from qa.vectors import VectorBackend, make_backend


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


def _folder_backend(settings: Settings) -> VectorBackend:
    """The vector backend the index folder's manifest names (the settings' when it cannot
    be read); a Milvus collection is not checked here."""
    if replica_mode(settings):
        raise VectorStoreError(
            "qa check verifies index folders; a collection kept whole in Milvus is checked "
            "with Milvus's own tools"
        )
    try:
        kind: str | None = Store(settings.index_dir).read_manifest().vectors.kind
    except QAError:
        kind = None
    return make_backend(settings, kind)


def check(settings: Settings) -> CheckReport:
    """What is wrong with the index folder (see :mod:`qa.collection.folder.check`)."""
    return check_folder(settings.index_dir, _folder_backend(settings))


def repair(settings: Settings, report: CheckReport) -> Manifest:
    """Salvage what ``report`` found readable into a new commit."""
    return repair_folder(settings.index_dir, _folder_backend(settings), report)
