"""A replaced version's sentences and texts, kept a while for the queries reading them.

A query on a replica searches passages, then reads the heads of the documents it found
and, by id, their sentences and texts. Were a write on another replica to delete the
version it replaced as soon as it commits, a query that read the old head just before
would find those rows gone and have to start again; under a steady stream of rewrites
some queries would never finish. So a serving replica deletes a replaced version's
passages at once (a search must not find them) and its sentences and texts
:data:`GRACE` seconds after the commit (:class:`Retirer`). A replica stopped before then
leaves them to the next write of that document, once they are older than
:data:`~qa.collection.milvus.writer.STALE`; they are never served meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

GRACE = 30.0  # seconds a replaced version's sentences and texts stay readable
READ_BY_ID = ("texts", "sentences")  # what a query reads by id after its search


class Retirer:
    """Deletes retired versions' rows (``drop``) :data:`GRACE` seconds after they retire,
    on a thread of its own."""

    def __init__(self, drop: Callable[[list[int]], None], grace: float = GRACE) -> None:
        self._drop, self.grace = drop, grace
        self._due: deque[tuple[float, list[int]]] = deque()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def retire(self, versions: Sequence[int]) -> None:
        """Delete the rows of ``versions`` once :attr:`grace` seconds have passed."""
        if not versions:
            return
        with self._wake:
            self._due.append((time.monotonic() + self.grace, [int(v) for v in versions]))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="qa-retire", daemon=True)
                self._thread.start()
            self._wake.notify()

    def pending(self) -> int:
        """How many versions wait for their deletion."""
        with self._wake:
            return sum(len(versions) for _, versions in self._due)

    def settle(self) -> None:
        """Delete every retired version's rows now (the service is stopping)."""
        with self._wake:
            due = [v for _, versions in self._due for v in versions]
            self._due.clear()
        if due:
            self._drop(due)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._wake.wait(self._due[0][0] - time.monotonic() if self._due else None)
                now, due = time.monotonic(), []
                while self._due and self._due[0][0] <= now:
                    due += self._due.popleft()[1]
            try:
                self._drop(due)
            except Exception as exc:  # left for the next write of those documents
                log.warning("could not delete %d replaced versions: %s", len(due), exc)
