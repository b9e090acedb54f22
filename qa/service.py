"""The service: the one boundary the HTTP API, the command line and the evaluation call.

It holds the settings, the model and the collection, and every operation of the product
is one of its methods: reads (:meth:`QAService.ask`, :meth:`QAService.health`,
:meth:`QAService.documents`, :meth:`QAService.document`) each take one consistent snapshot
of the index; writes (:meth:`QAService.add`, :meth:`QAService.replace`,
:meth:`QAService.delete`, :meth:`QAService.build`, :meth:`QAService.reindex`,
:meth:`QAService.migrate`) go through the collection, which serialises them and publishes
each atomically. Callers never take a lock.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from qa.answer import AnswerFinder, Reply, answer
from qa.core.config import Settings
from qa.core.errors import IndexMismatchError, IndexNotFoundError, QAError
from qa.embed import Embedder, embedder_backend, load_embedder
from qa.embed.batching import QueryBatcher
from qa.embed.companion import companion_encoder
from qa.index import IndexView, WriteResult, corpus_language, unknown_document
from qa.index.follow import Follower
from qa.ingest import Document
from qa.ingest.language import detector
from qa.place import (
    AnyCollection,
    copy_folder,
    create_collection,
    in_folder,
    open_collection,
    replica_mode,
    where,
)
from qa.search import Retriever, make_retriever, search
from qa.search.translation import translator
from qa.store import Filters, Manifest, Store, StoredDocument
from qa.vectors import make_backend

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Health:
    status: str  # "ok", or "no_index" when no index is loaded
    model: str
    vector_store: str
    documents: int
    chunks: int
    generation: int | None = None  # the live index's commit
    detail: str | None = None


class QAService:
    """One collection and the model that reads it (see the module docstring)."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self.collection: AnyCollection | None = None
        self.index_error: str | None = None
        self._retrievers: dict[str, Retriever] = {}
        self._finder: AnswerFinder | None = None
        self._lock = threading.RLock()  # model loading, retriever building, index creation
        self.follower: Follower | None = None  # serving: takes other processes' commits

    @classmethod
    def start(cls, settings: Settings, embedder: Embedder | None = None) -> QAService:
        """For serving: load the model, then the index if there is one (a missing index is
        reported by :meth:`health`, not raised), and answer one question so that no request
        pays for lazy loading."""
        embedder = embedder or load_embedder(settings)
        if settings.query_batching == "on" or (
            settings.query_batching == "auto" and embedder_backend(embedder) == "torch"
        ):
            # Two workers: one embeds a batch while the other gathers the next.
            embedder = QueryBatcher(embedder, settings.max_query_batch, workers=2)
        service = cls(settings, embedder)
        try:
            service.collection = service._open(writable=True)
        except QAError as exc:
            service.index_error = str(exc)
            log.warning("%s", exc)
        if settings.translate or settings.translate_answers:
            translator().warm_up()
        if service.health().documents:
            service.ask("What is this collection about?", 1)
        if settings.follow_interval > 0 and not replica_mode(settings):
            service.follower = Follower(
                settings.index_dir, service.catch_up, settings.follow_interval
            ).start()
        return service

    def catch_up(self) -> bool:
        """Take the state another process committed, if any (True when it changed)."""
        with self._lock:
            if opened := self.collection is None:
                self.collection, self.index_error = self._open(writable=True), None
        if changed := opened or self.collection.refresh():
            log.info("index (re)loaded: %d documents", self.health().documents)
        return changed

    def _replica_appeared(self) -> None:
        """A replica started before its collection existed opens it once another has
        created it (an index folder is taken by the follower instead)."""
        if self.collection is None and replica_mode(self.settings):
            with self._lock:
                if self.collection is None:
                    with suppress(IndexNotFoundError):
                        self.collection, self.index_error = self._open(writable=True), None

    @classmethod
    def open(
        cls,
        settings: Settings,
        embedder: Embedder | None = None,
        writable: bool = True,
        follow_index: bool = False,
        missing_ok: bool = False,
    ) -> QAService:
        """For one command: open the index (its errors raised), loading the model only
        when an operation needs it. ``writable=False`` reads without taking the folder's
        lock; ``follow_index`` uses the vector store the index names, whatever the
        settings say (to move it elsewhere); ``missing_ok``: no index yet is no error
        (:meth:`add` creates one)."""
        service = cls(settings, embedder)
        try:
            service.collection = service._open(writable, follow_index)
        except IndexNotFoundError as exc:
            if not missing_ok:
                raise
            service.index_error = str(exc)
        return service

    def _open(self, writable: bool, follow_index: bool = False) -> AnyCollection:
        return open_collection(self.settings, self._embedder, writable, follow_index)

    @property
    def where(self) -> str:
        """Where the collection is kept: the index folder, or the Milvus collection."""
        return where(self.settings)

    @property
    def embedder(self) -> Embedder:
        """The model, loaded on first use and checked against the open index's."""
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    embedder = load_embedder(self.settings)
                    if self.collection is not None:
                        self.collection.use_model(embedder)
                    self._embedder = embedder
        return self._embedder

    def _collection(self, embeds: bool = False) -> AnyCollection:
        """The open collection; ``embeds``: with the model, for a write that may embed."""
        self._replica_appeared()
        if self.collection is None:
            raise IndexNotFoundError(self.index_error or "no index loaded")
        if embeds and self.collection.embedder is None:
            self.collection.use_model(self.embedder)
        return self.collection

    def retriever(self, method: str | None = None) -> Retriever:
        """The retriever for ``method`` (default: ``settings.method``), built once."""
        method = method or self.settings.method
        if method not in self._retrievers:
            with self._lock:
                self._retrievers.setdefault(
                    method, make_retriever(method, self.embedder, self.settings)
                )
        return self._retrievers[method]

    # ------------------------------------------------------------------- reading
    @contextmanager
    def snapshot(self) -> Iterator[IndexView]:
        """The index as it is, unchanged while the caller reads it."""
        with self._collection().snapshot() as index:
            yield index

    @property
    def finder(self) -> AnswerFinder:
        if self._finder is None:
            with self._lock:
                if self._finder is None:
                    languages = tuple(self.settings.languages)
                    companion = companion_encoder() if self.settings.companion else None
                    self._finder = AnswerFinder(self.embedder, detector(languages), companion)
        return self._finder

    def ask(
        self,
        question: str,
        top_k: int,
        method: str | None = None,
        filters: Filters | None = None,
        with_answer: bool = True,
    ) -> Reply:
        """The ``top_k`` passages that best answer ``question`` and, unless
        ``with_answer`` is false, the answer found in them (``POST /query``)."""
        started = time.perf_counter()
        retriever = self.retriever(method)
        with self.snapshot() as index:
            result = search(retriever, index, question, top_k, filters)
            searched = time.perf_counter()
            if not with_answer:
                reply = Reply(result, self.finder.language(result))
            else:
                reply = answer(
                    index,
                    result,
                    self.finder,
                    translator() if self.settings.translate_answers else None,
                    self.settings.answer_min_confidence,
                )
        done = time.perf_counter()
        stages = {
            "embed": result.embed_ms,
            "retrieve": (searched - started) * 1000 - result.embed_ms,
            "answer": (done - searched) * 1000 if with_answer else 0.0,
        }
        return dataclasses.replace(reply, took_ms=(done - started) * 1000, stages_ms=stages)

    def health(self) -> Health:
        """Whether the service can answer, with its model and the size of the live index."""
        model = self._embedder.name if self._embedder is not None else self.settings.model
        self._replica_appeared()
        if self.collection is None:
            store = self.settings.vector_store
            return Health("no_index", model, store, 0, 0, detail=self.index_error)
        with self.collection.snapshot() as index:
            counts = len(index.documents), len(index.chunks)
            return Health("ok", model, index.manifest.vectors.kind, *counts, index.generation)

    def copy_index(self, dest: Path) -> Manifest:
        """A consistent copy of the committed index in ``dest`` (``qa snapshot``); the
        service keeps serving meanwhile, and a write waits for the copy."""
        if replica_mode(self.settings):
            in_folder(self._collection(), "copy")  # not a folder: says what to do instead
        return Store(self.settings.index_dir).copy_to(dest)

    def documents(self) -> list[StoredDocument]:
        """Every document, in the order they were added."""
        with self.snapshot() as index:
            return list(index.documents.values())

    def document(self, doc_id: str) -> StoredDocument:
        with self.snapshot() as index:
            if doc_id not in index.documents:
                raise unknown_document(doc_id)
            return index.documents[doc_id]

    # ------------------------------------------------------------------- writing
    def add(self, documents: Sequence[Document], progress: bool = False) -> list[WriteResult]:
        """Add or replace documents; creates the index if there is none yet."""
        with self._lock:
            if self.collection is None:
                if not replica_mode(self.settings) and Store(self.settings.index_dir).exists():
                    raise IndexNotFoundError(self.index_error or "the index cannot be opened")
                language = corpus_language([d.text for d in documents])
                self.collection = create_collection(self.settings, self.embedder, [], language)
                self.index_error = None
        return self._collection(embeds=True).upsert(documents, progress)

    def replace(self, document: Document) -> list[WriteResult]:
        """Replace an existing document (an unknown id is an error and changes nothing)."""
        return self._collection(embeds=True).replace(document)

    def delete(self, doc_ids: Sequence[str]) -> list[WriteResult]:
        """Delete documents: all or nothing."""
        return self._collection().delete(doc_ids)

    def build(
        self, documents: Sequence[Document], progress: bool = False, replace: bool = False
    ) -> Manifest:
        """A new index of ``documents`` in place of the one there was (``qa index``); one
        holding documents ``documents`` does not is only replaced with ``replace``."""
        self.collection = create_collection(
            self.settings, self.embedder, documents, None, progress, replace
        )
        self.index_error = None
        with self.snapshot() as index:
            return index.manifest

    def reindex(self) -> Manifest:
        """Rebuild the vector stores with the settings' index kinds (nothing re-embedded)."""
        collection = in_folder(self._collection(), "reindex")
        return collection.rebuild_vectors(make_backend(self.settings, collection.backend.kind))

    def migrate(self, to: str, progress: bool = False) -> Manifest:
        """Move every vector to the vector store ``to`` (nothing re-embedded); to Milvus in
        replica mode, copy the index folder's whole collection there (the folder is left as
        it is, and its manifest returned)."""
        collection = in_folder(self._collection(), "migrate")
        if to == "milvus" and replica_mode(self.settings):
            with collection.snapshot() as index:
                copy_folder(index, self.settings, progress)
                return index.manifest
        if collection.backend.kind == to:
            raise IndexMismatchError(
                f"the index in {self.settings.index_dir}/ already keeps its vectors in {to}"
            )
        return collection.rebuild_vectors(make_backend(self.settings, to))
