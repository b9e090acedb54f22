"""Step 4: the index on disk — immutable segments, a typed manifest that is the single
commit point, the folder's lock, and the files vector backends keep beside them."""

from qa.store.filters import Filters
from qa.store.folder import Blobs, Store, rebuild_hint
from qa.store.manifest import (
    FORMAT_VERSION,
    Chunking,
    Counts,
    FileRef,
    Manifest,
    ModelInfo,
    SegmentEntry,
    VectorsRecord,
)
from qa.store.records import StoredDocument
from qa.store.segments import SegmentData

__all__ = [
    "FORMAT_VERSION",
    "Blobs",
    "Chunking",
    "Counts",
    "FileRef",
    "Filters",
    "Manifest",
    "ModelInfo",
    "SegmentData",
    "SegmentEntry",
    "Store",
    "StoredDocument",
    "VectorsRecord",
    "rebuild_hint",
]
