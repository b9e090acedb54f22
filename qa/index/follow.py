"""Following an index folder: a serving process takes what other processes commit on it
(``qa add``, ``qa index``, another server) within a fraction of a second.

A commit renames a new ``manifest.json`` into place, so a changed file (inode, time, size)
is the one sign to watch: a background thread checks it every ``interval`` seconds and
calls ``catch_up`` when it changed, which loads the committed state beside the live one
and swaps it in whole (see :meth:`qa.index.collection.Collection.refresh`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from qa.core.errors import IndexBusyError, QAError
from qa.store import Store

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
