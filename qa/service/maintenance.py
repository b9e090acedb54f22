"""Looking after an index folder, nothing re-embedded: ``qa reindex`` (the settings' index
kinds), ``qa migrate`` (another vector store, or the whole collection into Milvus) and
``qa check`` (verify an index folder or a Milvus collection; ``--repair``: salvage what
can be read)."""

from __future__ import annotations

from qa.collection import Collection, copy_folder, replica_mode
from qa.collection.folder.check import CheckReport, check_folder, repair_folder
from qa.collection.milvus import catalog_of
from qa.collection.milvus.check import check_collection, repair_collection
from qa.core.config import Settings
from qa.core.errors import IndexMismatchError, QAError
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
    be read)."""
    try:
        kind: str | None = Store(settings.index_dir).read_manifest().vectors.kind
    except QAError:
        kind = None
    return make_backend(settings, kind)


def check(settings: Settings) -> CheckReport:
    """What is wrong with the index folder or the Milvus collection (see
    :mod:`qa.collection.folder.check` and :mod:`qa.collection.milvus.check`)."""
    if replica_mode(settings):
        return check_collection(catalog_of(settings))
    return check_folder(settings.index_dir, _folder_backend(settings))


def repair(settings: Settings, report: CheckReport) -> list[str]:
    """Salvage what ``report`` found readable; what was done, one line each."""
    lost = report.lost_named()
    if replica_mode(settings):
        repair_collection(catalog_of(settings), report)
        return [
            *([f"dropped {len(report.lost)} damaged documents: {lost}; add them again with "
               "`qa add`"] if report.lost else []),
            *([f"deleted the rows of {len(report.orphans)} versions no document names"]
              if report.orphans else []),
        ]  # fmt: skip
    manifest = repair_folder(settings.index_dir, _folder_backend(settings), report)
    lines = []
    if report.bad_segments:
        named = f": {lost}" if report.lost else " (their list could not be read)"
        lines.append(
            f"dropped {len(report.bad_segments)} segments with {len(report.lost)} "
            f"documents{named}; add them again with `qa add`"
        )
    lines.append(
        f"repaired: generation {manifest.generation}, {manifest.counts.documents} documents, "
        "vector store rebuilt from the stored vectors"
    )
    return lines
