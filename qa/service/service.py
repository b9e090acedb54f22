"""The service: the one boundary the HTTP API, the command line and the evaluation call.

It holds the settings, the process's models (:class:`~qa.service.models.Models`) and the
collection, and every operation of the product is one of its methods: reads
(:meth:`QAService.ask`, :meth:`QAService.health`, :meth:`QAService.documents`,
:meth:`QAService.document`) each take one consistent snapshot of the collection; writes
(:meth:`QAService.add`, :meth:`QAService.replace`, :meth:`QAService.delete`,
:meth:`QAService.build`, :meth:`QAService.reindex`, :meth:`QAService.migrate`) go through
the collection, which serialises them and publishes each atomically. Callers never take a
lock. Starting a server's service: :mod:`qa.service.startup`.
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
from qa.answer.model import Stage
from qa.collection import Collection, Follower, home_of, replica_mode
from qa.core.config import Settings
from qa.core.errors import ChangedWhileReadError, IndexNotFoundError
from qa.embed import Embedder
from qa.index import IndexView, WriteResult, corpus_language, unknown_document
from qa.ingest import Document
from qa.search import Retriever, make_retriever, search
from qa.search.translation import Translator
from qa.service import maintenance
from qa.service.models import Models, one_search_thread
from qa.service.versions import precondition
from qa.store import Filters, Manifest, Store, StoredDocument

# A request reads again when another replica changed a document under it (Milvus).
READ_ATTEMPTS = 3

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Health:
    status: str  # "ok"; "no_index" when no index is loaded; "unavailable" (Milvus down)
    model: str
    vector_store: str
    documents: int
    chunks: int
    generation: int | None = None  # the live index's commit
    detail: str | None = None


class QAService:
    """One collection and the models that read it (see the module docstring)."""

    def __init__(
        self, settings: Settings, embedder: Embedder | None = None, models: Models | None = None
    ) -> None:
        self.settings = settings
        self.models = models or Models(settings, embedder)
        self.home = home_of(settings)
        self.collection: Collection | None = None
        self.index_error: str | None = None
        self._retrievers: dict[str, Retriever] = {}
        self._finder: AnswerFinder | None = None
        self._lock = threading.RLock()  # model loading, retriever building, index creation
        self.follower: Follower | None = None  # serving an index folder: others' commits
        self.serving = False  # writes keep what other processes' queries still read a while

    @classmethod
    def open(
        cls,
        settings: Settings,
        embedder: Embedder | None = None,
        writable: bool = True,
        follow_index: bool = False,
        missing_ok: bool = False,
    ) -> QAService:
        """For one command: open the collection (its errors raised), loading the model
        only when an operation needs it. ``writable=False`` reads without taking the
        folder's lock; ``follow_index`` uses the vector store the index folder names,
        whatever the settings say (to move it elsewhere); ``missing_ok``: no collection
        yet is no error (:meth:`add` creates one)."""
        one_search_thread()
        service = cls(settings, embedder)
        if follow_index:
            service.home = home_of(settings, follow_index=True)
        try:
            service.collection = service.open_collection(writable)
        except IndexNotFoundError as exc:
            if not missing_ok:
                raise
            service.index_error = str(exc)
        return service

    def open_collection(self, writable: bool = True) -> Collection:
        return self.home.open(self.models.loaded, writable, self.models.companion)

    @property
    def where(self) -> str:
        """Where the collection is kept: the index folder, or the Milvus collection."""
        return self.home.where

    @property
    def embedder(self) -> Embedder:
        """The model, loaded on first use and checked against the open collection's."""
        if self.models.loaded is None:
            with self._lock:
                if self.models.loaded is None:
                    embedder = self.models.embedder
                    if self.collection is not None:
                        self.collection.use_model(embedder, self.models.companion)
        return self.models.embedder

    def _collection(self, embeds: bool = False) -> Collection:
        """The open collection; ``embeds``: with the model, for a write that may embed."""
        self.replica_appeared()
        if self.collection is None:
            raise IndexNotFoundError(self.index_error or "no index loaded")
        if embeds and self.collection.embedder is None:
            self.collection.use_model(self.embedder, self.models.companion)
        if self.serving:
            self.collection.keep_replaced()
        return self.collection

    def close(self) -> None:
        """Finish what writes put off (the service is stopping)."""
        if self.collection is not None:
            self.collection.settle()

    def catch_up(self) -> bool:
        """Take the state another process committed on the index folder, if any (True when
        it changed); open it if the service started before there was one."""
        with self._lock:
            if opened := self.collection is None:
                self.collection, self.index_error = self.open_collection(), None
        if changed := opened or self.collection.refresh():
            log.info("index (re)loaded: %d documents", self.health().documents)
        return changed

    def replica_appeared(self) -> None:
        """A replica started before its collection existed opens it once another has
        created it (an index folder is taken by the follower instead)."""
        if self.collection is None and replica_mode(self.settings):
            with self._lock:
                if self.collection is None:
                    with suppress(IndexNotFoundError):
                        self.collection, self.index_error = self.open_collection(), None

    def retriever(self, method: str | None = None) -> Retriever:
        """The retriever for ``method`` (default: ``settings.method``), built once."""
        method = method or self.settings.method
        if method not in self._retrievers:
            with self._lock:
                self._retrievers.setdefault(
                    method,
                    make_retriever(method, self.embedder, self.settings, self.models.for_queries()),
                )
        return self._retrievers[method]

    # ------------------------------------------------------------------- reading
    @contextmanager
    def snapshot(self) -> Iterator[IndexView]:
        """The collection as it is, unchanged while the caller reads it."""
        with self._collection().snapshot() as index:
            yield index

    @property
    def finder(self) -> AnswerFinder:
        if self._finder is None:
            with self._lock:
                if self._finder is None:
                    m = self.models
                    self._finder = AnswerFinder(self.embedder, m.detector, m.companion)
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
        for attempt in range(READ_ATTEMPTS):
            try:
                with self.snapshot() as index:
                    result = search(retriever, index, question, top_k, filters)
                    searched = time.perf_counter()
                    reply = (
                        answer(index, result, self.finder, *self._answering())
                        if with_answer
                        else Reply(result, self.finder.language(result))
                    )
                break
            except ChangedWhileReadError:  # another replica wrote meanwhile: read again
                if attempt == READ_ATTEMPTS - 1:
                    raise
        done = time.perf_counter()
        stages = {
            "embed": result.embed_ms,
            "retrieve": (searched - started) * 1000 - result.embed_ms,
            "answer": (done - searched) * 1000 if with_answer else 0.0,
        }
        return dataclasses.replace(reply, took_ms=(done - started) * 1000, stages_ms=stages)

    def _answering(self) -> tuple[Translator | None, Stage, float | None]:
        """The answer stage's translator, fitted model and threshold."""
        translator = self.models.translator if self.settings.translate_answers else None
        return translator, self.models.answer_model.full, self.settings.answer_min_confidence

    def health(self) -> Health:
        """Whether the service can answer, with its model and the size of the live index."""
        loaded = self.models.loaded
        model = loaded.name if loaded is not None else self.settings.model
        self.replica_appeared()
        if self.collection is None:
            store = self.settings.vector_store
            return Health("no_index", model, store, 0, 0, detail=self.index_error)
        problem = self.collection.unavailable()
        if problem is not None:  # counting would ask the store that cannot answer
            return Health("unavailable", model, self.settings.vector_store, 0, 0, detail=problem)
        with self.collection.snapshot() as index:
            counts = len(index.documents), len(index.chunks)
            return Health("ok", model, index.manifest.vectors.kind, *counts, index.generation)

    def copy_index(self, dest: Path) -> Manifest:
        """A consistent copy of the committed index in ``dest`` (``qa snapshot``); the
        service keeps serving meanwhile, and a write waits for the copy."""
        if replica_mode(self.settings):
            self._collection().folder("copy")  # not a folder: says what to do instead
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
        """Add or replace documents; creates the collection if there is none yet."""
        with self._lock:
            if self.collection is None:
                if not replica_mode(self.settings) and Store(self.settings.index_dir).exists():
                    raise IndexNotFoundError(self.index_error or "the index cannot be opened")
                language = corpus_language([d.text for d in documents])
                self.collection = self._create([], language)
                self.index_error = None
        return self._collection(embeds=True).upsert(documents, progress)

    def replace(self, document: Document, if_match: str | None = None) -> list[WriteResult]:
        """Replace an existing document (an unknown id is an error and changes nothing);
        with ``if_match``, only if the document is still at that version."""
        condition = precondition(document.doc_id, if_match)
        return self._collection(embeds=True).replace(document, condition)

    def delete(self, doc_ids: Sequence[str], if_match: str | None = None) -> list[WriteResult]:
        """Delete documents: all or nothing (``if_match``: as for :meth:`replace`, with one
        document)."""
        condition = precondition(doc_ids[0], if_match) if len(doc_ids) == 1 else None
        return self._collection().delete(doc_ids, condition)

    def build(
        self, documents: Sequence[Document], progress: bool = False, replace: bool = False
    ) -> None:
        """A new collection of ``documents`` in place of the one there was (``qa index``);
        one holding documents ``documents`` does not is only replaced with ``replace``."""
        self.collection = self._create(documents, None, progress, replace)
        self.index_error = None

    def _create(
        self,
        documents: Sequence[Document],
        language: str | None,
        progress: bool = False,
        replace: bool = True,
    ) -> Collection:
        companion = self.models.companion
        return self.home.create(self.embedder, documents, language, progress, replace, companion)

    def reindex(self) -> Manifest:
        return maintenance.reindex(self._collection(), self.settings)

    def migrate(self, to: str, progress: bool = False) -> Manifest:
        return maintenance.migrate(self._collection(), self.settings, to, progress)
