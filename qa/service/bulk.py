"""Writing many documents: in batches, each its own commit (``qa index``, ``qa add``).

A collection larger than memory goes in a batch at a time (about ``QA_INDEX_BATCH_CHARS``
characters of text), so the writer holds one batch's documents and vectors, not all of
them, and an interrupted run loses at most the batch under way:

* ``qa add`` run again skips every document already committed (same id, same text: nothing
  is embedded) and goes on from there;
* ``qa index`` first reads every source once for the ids (a bad record fails the run before
  anything changes), then builds; it leaves a marker in the index folder until its last
  batch is in, and run again over the same sources (the same ids and texts) it resumes the
  interrupted build instead of starting over. Over other sources it is a new build, and
  refuses to drop what the index holds (the interrupted build's documents too) unless
  told to replace it.

Progress (documents, rate, time left) goes to a callback: the CLI's bar on a terminal.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from qa.collection import replica_mode
from qa.core.errors import IndexMismatchError, IndexNotFoundError, IngestError
from qa.index.planner import WriteResult, refuse_dropping
from qa.ingest import Document
from qa.service.service import QAService

MARKER = ".building.json"  # in the index folder while a `qa index` build is under way

Progress = Callable[[int, int], None]  # documents written since the last call, of how many


def quiet(done: int, total: int) -> None:
    """The progress of a run nobody watches."""


def batches(documents: Iterable[Document], max_chars: int) -> Iterator[list[Document]]:
    """``documents`` in consecutive groups of at most ``max_chars`` characters of text
    (a longer document is a group of its own)."""
    group: list[Document] = []
    size = 0
    for doc in documents:
        if group and size + len(doc.text) > max_chars:
            yield group
            group, size = [], 0
        group.append(doc)
        size += len(doc.text)
    if group:
        yield group


@dataclass(frozen=True)
class Survey:
    """What a first read of the sources found: every id (in order), and a fingerprint of
    the ids and texts."""

    ids: tuple[str, ...]
    fingerprint: str


def survey(documents: Iterable[Document], read_one: Callable[[], None] | None = None) -> Survey:
    """Read ``documents`` once, keeping only their ids and hashes (``read_one`` is called
    after each); an id that comes twice is an error."""
    ids: list[str] = []
    seen: set[str] = set()
    digest = hashlib.sha256()
    for doc in documents:
        if doc.doc_id in seen:
            raise IngestError(f"document id {doc.doc_id!r} appears twice in one request")
        seen.add(doc.doc_id)
        ids.append(doc.doc_id)
        digest.update(f"{doc.doc_id}\0{doc.sha256}\0".encode("utf-8", "surrogatepass"))
        if read_one is not None:
            read_one()
    return Survey(tuple(ids), digest.hexdigest())


@dataclass(frozen=True)
class BuildReport:
    documents: int  # the collection holds them now
    resumed: int  # documents an interrupted build had committed (0: a build from the start)
    dropped: int  # documents the collection held that the sources do not


def build(
    service: QAService,
    read: Callable[[], Iterable[Document]],
    replace: bool = False,
    progress: Progress | None = None,
    read_one: Callable[[], None] | None = None,
    detail: bool = False,
) -> BuildReport:
    """Make the collection hold the documents ``read()`` gives and nothing else, a batch of
    ``QA_INDEX_BATCH_CHARS`` per commit; ``read`` is called twice (a survey, calling
    ``read_one`` after each document, then the build). Documents the collection holds that
    the sources do not are only dropped with ``replace``. ``detail``: each batch shows the
    embedding's own bars (on a terminal: a long document moves a bar of its own)."""
    found = survey(read(), read_one)
    marker = Path(service.settings.index_dir) / MARKER
    resuming = _marked(marker) == found.fingerprint
    held = _held_ids(service)
    wanted = set(found.ids)
    if not replace and not resuming:
        refuse_dropping(service.where, sorted(held - wanted))
    _mark(marker, found.fingerprint)
    fresh = not resuming and not replica_mode(service.settings)
    tick = progress or quiet
    tick(0, len(found.ids))
    for n, batch in enumerate(batches(read(), service.settings.index_batch_chars)):
        if n == 0 and fresh:  # a new index folder in place of the old one
            service.build(batch, detail, replace=True)  # its language: the first batch's
        else:
            service.add(batch, detail)
        tick(len(batch), len(found.ids))
    # what the old collection held besides (a new index folder no longer holds it)
    left = [] if fresh else sorted(held - wanted)
    if left:
        service.delete(left)
    marker.unlink(missing_ok=True)
    return BuildReport(len(found.ids), len(held & wanted) if resuming else 0, len(left))


def add(
    service: QAService,
    documents: Iterable[Document],
    found: Survey,
    progress: Progress | None = None,
    detail: bool = False,
) -> list[WriteResult]:
    """Add or update ``documents``, a batch of ``QA_INDEX_BATCH_CHARS`` per commit;
    ``found``: their :func:`survey`, read before (so a bad one fails the run before anything
    is written). Run again after an interruption, it skips what was committed. ``detail``:
    as for :func:`build`."""
    tick = progress or quiet
    tick(0, len(found.ids))
    results: list[WriteResult] = []
    for batch in batches(documents, service.settings.index_batch_chars):
        results += service.add(batch, detail)
        tick(len(batch), len(found.ids))
    return results


def _mark(marker: Path, fingerprint: str) -> None:
    marker.parent.mkdir(parents=True, exist_ok=True)
    temp = marker.with_name(marker.name + ".tmp")
    temp.write_text(json.dumps({"fingerprint": fingerprint}), encoding="utf-8")
    os.replace(temp, marker)


def _marked(marker: Path) -> str | None:
    """The fingerprint of the build an interrupted ``qa index`` left, if any."""
    try:
        return str(json.loads(marker.read_text(encoding="utf-8"))["fingerprint"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _held_ids(service: QAService) -> set[str]:
    """The ids the collection holds (none when there is none, or it does not open)."""
    if service.collection is None:
        try:
            service.collection = service.open_collection()
        except (IndexNotFoundError, IndexMismatchError):
            return set()
    return {d.doc_id for d in service.documents()}
