"""Compaction of an index folder: past ``MAX_SEGMENTS`` segments, a write merges the
smaller half into one, keeping every id, so that a merge costs what the small segments
hold, not the large ones of bulk loads."""

from __future__ import annotations

from qa.index.planner import plan_compaction, segments_to_merge
from qa.index.state import Index, IndexUpdate
from qa.store import Manifest, SegmentData, Store
from qa.vectors import VectorBackend

# Past this many segments, a write merges the smaller half into one (keeping every id).
MAX_SEGMENTS = 16


def compacted(
    store: Store, index: Index, backend: VectorBackend, limit: int
) -> tuple[IndexUpdate | None, Index | None]:
    """Merge the smaller half of ``index``'s segments when it has more than ``limit``
    (the caller holds the folder's lock and the write mutex) and commit: the update to
    apply in place, or, for vector stores that cannot drop an id and take it back, the
    index loaded anew. ``(None, None)`` when there was nothing to merge."""
    names = segments_to_merge(index.manifest, limit)
    if not names:
        return None, None
    segment, manifest = commit_merge(store, index, names)
    if backend.follows(index.manifest.vectors, manifest.vectors) and all(
        vectors.takes_back() for vectors in index.stores.values()
    ):  # the documents leave their segments and come back, under the same ids
        moved = [d.doc_id for d in segment.documents]
        return IndexUpdate(manifest, store.written(segment), moved), None
    return None, Index.load(store, manifest, backend, repair=True)


def commit_merge(store: Store, index: Index, names: set[str]) -> tuple[SegmentData, Manifest]:
    """Write the live documents of segments ``names`` as one segment and commit the
    manifest naming it instead of them."""
    name = store.new_segment_name()
    segment = plan_compaction(index, name, names)
    manifest = index.manifest.compacted(store.write_segment(segment), names)
    try:
        store.commit(manifest)
    except BaseException:
        if not store.committed(manifest.generation):
            store.discard_segment(name)
        raise
    return segment, manifest
