"""Following an index folder: a serving process takes what other processes commit on it
(``qa add``, ``qa index``, another server) within a fraction of a second.

A commit renames a new ``manifest.json`` into place, so a changed file (inode, time, size)
is the one sign to watch: a background thread checks it every ``interval`` seconds and
calls ``catch_up`` when it changed (see :meth:`~qa.collection.FolderCollection.refresh`):
when only writes came in between, their segments are read and applied like the process's
own writes (:func:`writes_since`); otherwise the committed state is loaded beside the live
one and swapped in whole (:func:`commits_since`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from qa.core.errors import IndexBusyError, QAError
from qa.index.state import Index, IndexUpdate
from qa.store import Manifest, Store
from qa.vectors import VectorBackend

log = logging.getLogger(__name__)


class Follower:
    """A daemon thread calling ``catch_up`` after each commit on ``index_dir``."""

    def __init__(self, index_dir: Path, catch_up: Callable[[], bool], interval: float) -> None:
        self.store, self.catch_up, self.interval = Store(index_dir), catch_up, interval
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="index-follower", daemon=True)

    def start(self) -> Follower:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()

    def _run(self) -> None:
        seen = None  # the first look compares manifests: nothing committed meanwhile is missed
        while not self.stopped.wait(self.interval):
            token = self.store.version()
            if token is None or token == seen:
                continue
            try:
                self.catch_up()
            except IndexBusyError:
                continue  # a write is under way; look again next time
            except QAError as exc:
                log.warning("the index changed on disk but cannot be served: %s", exc)
            except Exception:
                log.exception("following the index folder failed")
            seen = token


def writes_since(
    store: Store, index: Index, manifest: Manifest, backend: VectorBackend
) -> list[IndexUpdate] | None:
    """The updates taking ``index`` to the committed ``manifest`` when only writes came in
    between (segments added, documents deleted), their segments read from ``store``;
    ``None`` when something else did — a rebuild, a compaction, another model or store —
    and the index must be loaded anew."""
    old = index.manifest
    same = (old.created, old.model, old.language, old.chunking, old.companion) == (
        manifest.created,
        manifest.model,
        manifest.language,
        manifest.chunking,
        manifest.companion,
    )
    if not same or manifest.generation <= old.generation:
        return None
    if old.vectors.kind != manifest.vectors.kind or not backend.follows(
        old.vectors, manifest.vectors
    ):
        return None
    now = {entry.name: entry for entry in manifest.segments}
    removed: list[str] = []
    vanished: dict[str, str] = {}  # documents of segments that left: id -> content hash
    for entry in old.segments:
        if entry.name in now:
            removed += sorted(set(now[entry.name].deleted) - set(entry.deleted))
        else:  # every document of it deleted since, or moved by a compaction
            for d, doc in index.documents.items():
                if doc.segment == entry.name:
                    removed.append(d)
                    vanished[d] = doc.sha256
    known = {entry.name for entry in old.segments}
    added = [store.read_segment(e) for e in manifest.segments if e.name not in known]
    if any(vanished.get(d.doc_id) == d.sha256 for s in added for d in s.documents):
        return None  # the same documents in a merged segment: a compaction
    return [IndexUpdate(manifest, removed=removed)] + [
        IndexUpdate(manifest, added=segment) for segment in added
    ]


def commits_since(
    store: Store, index: Index, manifest: Manifest, backend: VectorBackend, repair: bool
) -> tuple[Index | None, list[IndexUpdate]]:
    """What takes ``index`` to ``manifest``, committed by another process: its writes to
    apply in place when only writes came in between, else the committed state loaded
    beside the live one (``repair``: see :meth:`Index.load`) to swap in whole."""
    updates = writes_since(store, index, manifest, backend)
    if updates is not None:
        return None, updates
    return Index.load(store, manifest, backend, repair), []
