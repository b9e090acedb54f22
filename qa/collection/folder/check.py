"""``qa check``: verify an index folder, and salvage what can be read (``--repair``).

In the spirit of Lucene's CheckIndex. The check reads everything a query or a write would
and says what is wrong, without changing anything:

* the manifest parses and its own checksum holds;
* every segment's files match the manifest's checksums and decode;
* every live document's text hashes to its recorded SHA-256; its passages and sentences
  lie inside that text; each sentence is held by passages of the index;
* every live passage and sentence has a finite, unit-length vector;
* the counts the manifest records are the counts found;
* the vector store opens and holds a vector for every passage and sentence.

``--repair`` commits a manifest without the segments that cannot be read (naming the
documents that go with them, when their list can still be read), then builds the vector
store anew from the stored vectors (nothing re-embedded). A manifest that cannot be read
cannot be repaired: rebuild the index from the sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.core.errors import IndexMismatchError, QAError
from qa.ingest import content_hash
from qa.store import Counts, Manifest, SegmentEntry, Store
from qa.store import segments as segment_files
from qa.store.folder import SEGMENTS
from qa.store.segments import SegmentData
from qa.vectors import VECTOR_KINDS, VectorBackend

NORM_TOLERANCE = 1e-2  # a stored vector's length may differ from 1 by this much
SHOWN = 5  # problems named per segment (the rest counted)


@dataclass
class CheckReport:
    """What the check found: counts of what it read whole, and each problem."""

    where: str = ""
    documents: int = 0
    passages: int = 0
    sentences: int = 0
    problems: list[str] = field(default_factory=list)
    bad_segments: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # documents of the unreadable segments
    orphans: set[int] = field(default_factory=set)  # Milvus: old versions no head names
    manifest: Manifest | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def lost_named(self, shown: int = 10) -> str:
        """The documents a repair drops, the first ``shown`` named."""
        return ", ".join(self.lost[:shown]) + (", …" if len(self.lost) > shown else "")


def check_folder(path: Path, backend: VectorBackend) -> CheckReport:
    """Everything :mod:`qa.collection.folder.check` lists, for the index in ``path``."""
    store, report = Store(path), CheckReport(where=f"{path}/")
    try:
        manifest = store.read_manifest()
    except QAError as exc:
        report.problems.append(f"manifest.json: {exc}")
        return report
    report.manifest = manifest
    found = Counts()
    for entry in manifest.segments:
        try:
            data = store.read_segment(entry)
            problems = check_segment(data)
        except (QAError, ValueError, KeyError, IndexError, OSError) as exc:
            problems = [f"cannot be read ({_reason(exc)})"]
        if problems:
            if len(problems) > SHOWN:
                problems = [*problems[:SHOWN], f"and {len(problems) - SHOWN} more"]
            report.problems += [f"segment {entry.name}: {p}" for p in problems]
            report.bad_segments.append(entry.name)
            report.lost += _listed_documents(store, entry)
            continue
        found = found.plus(data.counts())
    report.documents, report.passages, report.sentences = (
        found.documents,
        found.chunks,
        found.sentences,
    )
    if not report.bad_segments and found != manifest.counts:
        report.problems.append(
            f"manifest.json counts {manifest.counts.model_dump()}, the segments hold "
            f"{found.model_dump()}"
        )
    if not report.bad_segments:
        vectors = _check_vectors(store, manifest, backend, found)
        if vectors is not None:
            report.problems.append(f"vector store: {vectors}")
    return report


def check_segment(data: SegmentData) -> list[str]:
    """What is wrong inside one decoded segment."""
    problems: list[str] = []
    texts = {d.doc_id: d.text for d in data.documents}
    for doc in data.documents:
        if content_hash(doc.text) != doc.sha256:
            problems.append(f"document {doc.doc_id!r}: its text does not match its SHA-256")
    for kind, docs, spans in (
        ("passage", data.chunk_docs, data.chunk_spans),
        ("sentence", data.sentence_docs, data.sentence_spans),
    ):
        for doc_id, (start, end) in zip(docs, spans.tolist(), strict=True):
            if doc_id not in texts:
                problems.append(f"a {kind} of document {doc_id!r}, which it does not hold")
            elif not 0 <= start < end <= len(texts[doc_id]):
                problems.append(f"a {kind} of {doc_id!r} at {start}-{end} lies outside its text")
    if not set(data.holders.tolist()) <= set(data.chunk_ids.tolist()):
        problems.append("a sentence is held by a passage the segment does not have")
    for which in ("chunks", "sentences"):
        ids, vectors = data.vectors_of(which)
        if vectors.shape[0] != len(ids):
            problems.append(f"{len(ids)} {which} but {vectors.shape[0]} vectors")
        elif len(ids):
            norms = np.linalg.norm(vectors, axis=1)
            bad = int((~np.isfinite(norms) | (np.abs(norms - 1) > NORM_TOLERANCE)).sum())
            if bad:
                problems.append(f"{bad} {which} vectors are not finite unit vectors")
    return problems


def _check_vectors(
    store: Store, manifest: Manifest, backend: VectorBackend, found: Counts
) -> str | None:
    """Why the vector store does not serve the stored vectors (``None``: it does)."""
    from qa.collection.folder.collection import FolderCollection

    try:
        collection = FolderCollection.open(store.path, backend, None, writable=False)
    except (QAError, ValueError, OSError, RuntimeError) as exc:
        return _reason(exc)
    index = collection.index
    for which in VECTOR_KINDS:
        held, expected = index.stores[which].count(), found.of(which)
        if held != expected:
            return f"{held} {which} vectors for {expected} {which}"
    return None


def _listed_documents(store: Store, entry: SegmentEntry) -> list[str]:
    """The ids an unreadable segment's document list names, if that list can be read."""
    raw = store.path / SEGMENTS / entry.name / "documents.jsonl"
    try:
        return segment_files.document_ids(entry, raw.read_bytes())
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _reason(exc: BaseException) -> str:
    """The error's message without its advice (the report gives its own)."""
    text = str(exc).split("; `qa check --repair")[0].split("; rebuild it with")[0]
    return text or type(exc).__name__


def repair_folder(path: Path, backend: VectorBackend, report: CheckReport) -> Manifest:
    """Commit the index without the segments ``report`` found unreadable, then build the
    vector store anew from the stored vectors. Returns the committed manifest."""
    from qa.collection.folder.collection import FolderCollection

    manifest = report.manifest
    if manifest is None:
        raise IndexMismatchError(
            f"the manifest of {path}/ cannot be read, so nothing can be salvaged: rebuild the "
            f"index with `qa index --index-dir {path}`"
        )
    store = Store(path)
    if report.bad_segments:
        with store.lock():
            kept = tuple(s for s in manifest.segments if s.name not in report.bad_segments)
            counts = Counts()
            for entry in kept:
                counts = counts.plus(store.read_segment(entry).counts())
            store.commit(manifest.successor(segments=kept, counts=counts))
    try:
        collection = FolderCollection.open(path, backend, None, writable=True)
    except QAError:  # the vector store itself: start it empty, filled from the segments
        with store.lock():
            current = store.read_manifest()
            store.commit(current.successor(vectors=backend.empty_record()))
        collection = FolderCollection.open(path, backend, None, writable=True)
    return collection.rebuild_vectors(backend)
