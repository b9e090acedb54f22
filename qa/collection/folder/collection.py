"""A living collection: add, update and delete documents of an index, durably.

Every write runs the same steps, each a small unit of its own:

1. **plan** (:mod:`qa.index.planner`): diff by content hash, chunk and embed only what
   changed; nothing is written;
2. **persist**: the new passages go to a new segment (:meth:`qa.store.Store.write_segment`),
   the vector backend prepares the new state (:meth:`qa.vectors.VectorTransaction.prepare`),
   then the next manifest is committed: that rename is the commit;
3. **publish**: the committed change is applied to the loaded index under the write side
   of the collection's lock (:meth:`qa.index.state.Index.apply`), so a reader sees the
   state before or after, never a mix; then the vector transaction finishes and what only
   the old state used is removed.

A failure before the commit leaves disk and memory as they were. Writes are serialised by
a mutex in the process and the index folder's lock across processes; a writer that finds
the manifest changed by another process reloads first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from qa.collection.folder.compaction import MAX_SEGMENTS, compacted
from qa.collection.folder.follow import commits_since
from qa.core.errors import (
    IndexBusyError,
    IndexMismatchError,
    ModelLoadError,
)
from qa.core.locks import RWLock
from qa.embed import Embedder, embedder_backend, embedder_prompts
from qa.embed.companion import COMPANION, CompanionEncoder
from qa.index.planner import (
    Precondition,
    WritePlan,
    WriteResult,
    check_documents,
    plan_delete,
    plan_upsert,
    refuse_dropping,
    unknown_document,
)
from qa.index.state import Index, IndexUpdate, segment_rows
from qa.index.terms import corpus_language
from qa.ingest import Document
from qa.store import (
    Chunking,
    Counts,
    Manifest,
    ModelInfo,
    SegmentEntry,
    Store,
    StoredDocument,
    VectorsRecord,
    rebuild_hint,
)
from qa.vectors import VECTOR_KINDS, Rows, VectorBackend, VectorChange, VectorKind


def model_info(embedder: Embedder) -> ModelInfo:
    query, passage = embedder_prompts(embedder)
    return ModelInfo(
        name=embedder.name,
        dim=embedder.dim,
        backend=embedder_backend(embedder),
        query_prompt=query,
        passage_prompt=passage,
    )


def check_model(manifest: Manifest, path: Path, embedder: Embedder) -> None:
    """The index was built with ``embedder``'s model: queries and new passages must be
    embedded by the model that embedded the rest."""
    built = manifest.model
    if built.name != embedder.name:
        raise IndexMismatchError(
            f"index in {path}/ was built with model {built.name!r} (dim {built.dim}), but the "
            f"service uses {embedder.name!r}; {rebuild_hint(path)}, or set QA_MODEL={built.name}"
        )
    if built.dim != embedder.dim:
        raise IndexMismatchError(
            f"index in {path}/ holds {built.dim}-dimensional vectors, the model produces "
            f"{embedder.dim}; {rebuild_hint(path)}"
        )


def check_index(manifest: Manifest, path: Path, embedder: Embedder | None, kind: str) -> None:
    """The index was built with ``embedder``'s model (when given) and keeps its vectors in
    ``kind``."""
    if embedder is not None:
        check_model(manifest, path, embedder)
    if manifest.vectors.kind != kind:
        held = manifest.vectors.kind
        raise IndexMismatchError(
            f"the index in {path}/ keeps its vectors in {held}, but the service is set to "
            f"{kind}; set QA_VECTOR_STORE={held} (with its connection settings), or move the "
            f"vectors with `qa migrate --to {kind}`"
        )


def _previous(store: Store, documents: Sequence[Document], replace: bool) -> Manifest | None:
    """The manifest a new index replaces (None: none, or one that cannot be read); without
    ``replace``, one holding documents ``documents`` does not is refused."""
    try:
        previous = store.read_manifest() if store.exists() else None
    except IndexMismatchError:
        return None  # damaged or of another format: replaced all the same
    if previous is not None and not replace:
        _refuse_dropping(store, previous, documents)
    return previous


def _collect_garbage(
    store: Store, backend: VectorBackend, manifest: Manifest, previous: Manifest | None = None
) -> None:
    """Remove the segments and vector files ``manifest`` does not name, and the vector
    store of ``previous`` (an index it replaced) when of the same kind (with the lock)."""
    if previous is not None and previous.vectors.kind == backend.kind:
        backend.discard(previous.vectors, manifest.vectors, store.blobs)
    store.collect_garbage(manifest)
    backend.collect_garbage(manifest.vectors, store.blobs)


class FolderCollection:
    """The index of one folder, open for reading and writing (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        index: Index,
        backend: VectorBackend,
        embedder: Embedder | None,
        companion: CompanionEncoder | None = None,
    ) -> None:
        self.store, self.index, self.backend, self.embedder = store, index, backend, embedder
        self.companion = companion
        self._mutex = threading.Lock()  # one writer in the process
        self._lock = RWLock()  # readers of the index, and the writer publishing

    def use_model(self, embedder: Embedder, companion: CompanionEncoder | None = None) -> None:
        """Embed with ``embedder`` from now on (checked against the index's model), and
        with ``companion`` when the index keeps the second encoder's vectors."""
        check_model(self.index.manifest, self.store.path, embedder)
        self.embedder = embedder
        self.companion = companion or self.companion

    @property
    def where(self) -> str:
        return f"{self.store.path}/"

    def folder(self, action: str) -> FolderCollection:
        return self

    @contextmanager
    def snapshot(self) -> Iterator[Index]:
        """The current state, unchanged while the caller reads it."""
        with self._lock.read():
            yield self.index

    @classmethod
    def open(
        cls,
        path: Path,
        backend: VectorBackend,
        embedder: Embedder | None = None,
        writable: bool = True,
        companion: CompanionEncoder | None = None,
    ) -> FolderCollection:
        """Open an existing index: checks model, vector store and checksums. ``writable``:
        take the folder's lock, repair what an interrupted write left and remove its
        leftovers; a reader changes nothing. ``companion``: the second encoder, for an
        index that keeps its passage vectors (without, the collection makes one of its
        own, loaded when a write first needs it)."""
        store = Store(path)
        if not writable:
            manifest = store.read_manifest()
            check_index(manifest, store.path, embedder, backend.kind)
            index = Index.load(store, manifest, backend, repair=False)
        else:
            with store.lock():
                manifest = store.read_manifest()
                check_index(manifest, store.path, embedder, backend.kind)
                index = Index.load(store, manifest, backend, repair=True)
                _collect_garbage(store, backend, manifest)
        if manifest.companion and companion is None:
            companion = CompanionEncoder()
        return cls(store, index, backend, embedder, companion)

    @classmethod
    def create(
        cls,
        path: Path,
        backend: VectorBackend,
        embedder: Embedder,
        documents: Sequence[Document],
        chunking: Chunking,
        language: str | None = None,
        progress: bool = False,
        companion: CompanionEncoder | None = None,
        replace: bool = True,
    ) -> FolderCollection:
        """A new index of ``documents`` in one commit, replacing whatever ``path`` held; its
        language is ``language`` or the one most of ``documents`` is written in;
        ``companion``: the second encoder, which encodes its passages too. Without
        ``replace``, an index holding documents that ``documents`` does not is left alone
        (:class:`WouldDropDocumentsError`)."""
        check_documents(documents)
        store = Store(path)
        language = language or corpus_language([d.text for d in documents])
        with store.lock():
            previous = _previous(store, documents, replace)
            generation = previous.generation + 1 if previous is not None else 0
            vectors, kept = backend.empty_record(), COMPANION if companion else None
            manifest = Manifest.new(
                model_info(embedder), language, chunking, vectors, generation, kept
            )
            index = Index.open(store, manifest, backend)
            collection = cls(store, index, backend, embedder, companion)
            name = store.new_segment_name()
            plan = plan_upsert(index, documents, embedder, name, progress, companion)
            collection._commit(plan)
            _collect_garbage(store, backend, collection.index.manifest, previous)
        return collection

    def keep_replaced(self) -> None:
        """Nothing to keep or settle: another process reads its own copy of a commit."""

    settle = keep_replaced

    def unavailable(self) -> str | None:  # only a vector store kept in Milvus can be away
        return self.backend.unavailable(self.index.manifest.vectors)

    def refresh(self) -> bool:
        """Catch up with commits another process made on the folder (``qa add``, another
        server): apply their writes, or load the committed state beside the live one and
        swap it in whole; a query sees the old state or the new. False when there was
        nothing to catch up with; :class:`IndexBusyError` when a write is under way (try
        again later: a write of this process catches up by itself)."""
        if not self._mutex.acquire(blocking=False):
            raise IndexBusyError("this process is writing")
        try:
            with self.store.lock(timeout=0):
                manifest = self.store.read_manifest()
                if manifest == self.index.manifest:
                    return False
                self._catch_up(manifest, repair=False)
            return True
        finally:
            self._mutex.release()

    # ------------------------------------------------------------------- writing
    def upsert(self, documents: Sequence[Document], progress: bool = False) -> list[WriteResult]:
        """Add or replace ``documents`` (by id); unchanged ones cost nothing."""
        check_documents(documents)
        with self._writing():
            return self._upsert(documents, progress)

    def replace(
        self, document: Document, precondition: Precondition | None = None
    ) -> list[WriteResult]:
        """Replace a document that exists (an unknown id changes nothing), if
        ``precondition`` holds on the latest commit (under the folder's lock)."""
        check_documents([document])
        with self._writing(precondition):
            if document.doc_id not in self.index.documents:
                raise unknown_document(document.doc_id)
            return self._upsert([document], progress=False)

    def delete(
        self, doc_ids: Sequence[str], precondition: Precondition | None = None
    ) -> list[WriteResult]:
        """Delete documents; an unknown id, or a ``precondition`` that fails on the latest
        commit, fails the whole call before anything changes."""
        with self._writing(precondition):
            plan = plan_delete(self.index, doc_ids)
            self._commit(plan)
            self._compact_if_needed()
            return list(plan.results)

    def rebuild_vectors(self, backend: VectorBackend) -> Manifest:
        """Build both vector stores anew in ``backend`` (the same kind with other settings,
        or another kind: a migration) from the stored vectors, none re-embedded; commit;
        drop what the previous stores kept. Returns the committed manifest."""
        with self._writing():
            before, old = self.index.manifest.vectors, self.backend
            self._commit(WritePlan(None, (), ()), backend)
            self.backend = backend
            if backend.kind != old.kind:
                old.discard(before, None, self.store.blobs)
            return self.index.manifest

    def _upsert(self, documents: Sequence[Document], progress: bool) -> list[WriteResult]:
        if self.embedder is None:
            raise ModelLoadError("this collection was opened without a model; it cannot embed")
        name = self.store.new_segment_name()
        plan = plan_upsert(self.index, documents, self.embedder, name, progress, self.companion)
        if not plan.empty:
            self._commit(plan)
            self._compact_if_needed()
        return list(plan.results)

    @contextmanager
    def _writing(self, precondition: Precondition | None = None) -> Iterator[None]:
        """The process's write mutex and the folder's lock, on the latest committed state
        (on which ``precondition`` must hold)."""
        with self._mutex, self.store.lock():
            manifest = self.store.read_manifest()
            if manifest != self.index.manifest:  # another process committed
                self._catch_up(manifest, repair=True)
            if precondition is not None:
                precondition(self.index.documents)
            yield

    def _catch_up(self, manifest: Manifest, repair: bool) -> None:
        """Take ``manifest``, committed by another process (the caller holds the write
        mutex and the folder's lock): see :func:`~qa.collection.folder.follow.commits_since`."""
        check_index(manifest, self.store.path, self.embedder, self.backend.kind)
        fresh, updates = commits_since(self.store, self.index, manifest, self.backend, repair)
        with self._lock.write():
            if fresh is not None:
                self.index = fresh
            for update in updates:
                self.index.apply(update)

    def _commit(self, plan: WritePlan, backend: VectorBackend | None = None) -> None:
        """Persist ``plan`` (a segment, the vector backend's new state, the manifest), then
        publish it. With ``backend``, every vector store is rebuilt there."""
        started = time.perf_counter()
        index = self.index
        gone = [index.documents[d] for d in plan.removed]
        entry, manifest, added = None, None, None
        transaction = (backend or self.backend).begin(
            index.manifest.vectors,
            index.stores,
            vector_changes(index, plan, gone),
            index.manifest.model.dim,
            self.store.blobs,
            rebuild=backend is not None,
        )
        try:
            if plan.segment is not None:
                entry = self.store.write_segment(plan.segment)
                added = self.store.written(plan.segment)
            prepared = transaction.prepare()
            manifest = next_manifest(index.manifest, plan, gone, entry, prepared.record, started)
            self.store.commit(manifest)
        except BaseException:
            if manifest is None or not self.store.committed(manifest.generation):
                transaction.abort()
                if entry is not None:
                    self.store.discard_segment(entry.name)
            raise
        with self._lock.write():
            index.apply(IndexUpdate(manifest, added, plan.removed, prepared.stores))
        transaction.commit()
        kept = {s.name for s in manifest.segments}
        for doc in gone:
            if doc.segment not in kept:
                self.store.discard_segment(doc.segment)

    def _compact_if_needed(self) -> None:
        """Past ``MAX_SEGMENTS`` segments, merge the smaller half into one (see
        :mod:`qa.collection.folder.compaction`)."""
        update, fresh = compacted(self.store, self.index, self.backend, MAX_SEGMENTS)
        if update is None and fresh is None:
            return
        with self._lock.write():
            if fresh is not None:
                self.index = fresh
            else:
                assert update is not None
                self.index.apply(update)
        self.store.collect_garbage(self.index.manifest)


def vector_changes(
    index: Index, plan: WritePlan, gone: Sequence[StoredDocument]
) -> dict[VectorKind, VectorChange]:
    """What ``plan`` (whose removed documents are ``gone``) does to each vector store of
    ``index``."""
    dim = index.manifest.model.dim
    changes = {}
    for which in VECTOR_KINDS:
        added = segment_rows(plan.segment, which) if plan.segment else Rows.empty(dim)
        removed = np.asarray([i for d in gone for i in d.vector_ids(which)], dtype=np.int64)
        count = index.manifest.counts.of(which) - len(removed) + len(added)
        changes[which] = VectorChange(
            added, removed, count, _state(index, which, plan.removed, added, dim)
        )
    return changes


def next_manifest(
    manifest: Manifest,
    plan: WritePlan,
    gone: Sequence[StoredDocument],
    entry: SegmentEntry | None,
    vectors: VectorsRecord,
    started: float,
) -> Manifest:
    """The manifest after ``plan`` (whose removed documents are ``gone``, whose segment is
    written as ``entry``), with the vector backend's new record."""
    removed: dict[str, list[str]] = {}
    for doc in gone:
        removed.setdefault(doc.segment, []).append(doc.doc_id)
    return manifest.after_write(
        entry,
        plan.segment.counts() if plan.segment is not None else Counts(),
        removed,
        Counts(
            documents=len(gone),
            chunks=sum(len(d.chunk_ids) for d in gone),
            sentences=sum(len(d.sentence_ids) for d in gone),
        ),
        vectors,
        time.perf_counter() - started,
    )


def _state(
    index: Index, which: VectorKind, removed: Sequence[str], added: Rows, dim: int
) -> Callable[[], Rows]:
    """Every row of the state a write leads to, read only when a store is built anew."""
    return lambda: Rows.concat([index.rows(which, removed), added], dim)


def _refuse_dropping(store: Store, previous: Manifest, documents: Sequence[Document]) -> None:
    dropped = store.document_ids(previous) - {d.doc_id for d in documents}
    refuse_dropping(f"the index in {store.path}/", sorted(dropped))
