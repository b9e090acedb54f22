"""The running service's state, in one place: settings, the loaded model, the collection."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from qa.collection import AnnPolicy, Collection, WriteResult, corpus_language
from qa.core.config import Settings
from qa.core.errors import IndexNotFoundError, QAError
from qa.embed import Embedder, embedder_backend, load_embedder
from qa.embed.batching import QueryBatcher
from qa.index import Filters, Index
from qa.ingest import Document
from qa.search import Answer, Retriever, make_retriever, search
from qa.store import Store
from qa.vectors import make_backend

log = logging.getLogger(__name__)


def ann_policy(settings: Settings) -> AnnPolicy:
    return AnnPolicy(
        settings.ann,
        settings.ann_flat_max,
        settings.ann_nprobe,
        settings.ann_ef_search,
        settings.ann_hnsw_m,
        settings.ann_candidates,
    )


@dataclass
class QAService:
    """Loaded once at start-up; every request reads from it."""

    settings: Settings
    embedder: Embedder
    collection: Collection | None = None
    index_error: str | None = field(default=None)
    _retrievers: dict[str, Retriever] = field(default_factory=dict, repr=False)
    _create_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def start(cls, settings: Settings, embedder: Embedder | None = None) -> QAService:
        """Load the model, then the index if there is one (a missing index is not fatal)."""
        embedder = embedder or load_embedder(settings)
        if settings.query_batching == "on" or (
            settings.query_batching == "auto" and embedder_backend(embedder) == "torch"
        ):
            # Two workers: one embeds a batch while the other gathers the next.
            embedder = QueryBatcher(embedder, settings.max_query_batch, workers=2)
        service = cls(settings, embedder)
        service.reload_index()
        service.warm_up()
        return service

    @property
    def index(self) -> Index | None:
        return None if self.collection is None else self.collection.index

    def warm_up(self) -> None:
        """Build the default retriever and run one question, so that no request pays for
        lazy loading (translation models, first model run)."""
        if self.index is not None and self.index.documents:
            self.ask("What is this collection about?", 1)

    def reload_index(self) -> None:
        self._retrievers = {}
        try:
            self.collection = Collection.open(
                self.settings.index_dir,
                self.embedder,
                self.settings.chunk_size,
                self.settings.chunk_overlap,
                ann_policy(self.settings),
                make_backend(self.settings),
            )
            self.index_error = None
        except QAError as exc:
            self.collection, self.index_error = None, str(exc)
            log.warning("%s", exc)

    def require_index(self) -> Index:
        if self.index is None:
            raise IndexNotFoundError(self.index_error or "no index loaded")
        return self.index

    def retriever(self, method: str | None = None) -> Retriever:
        """The retriever for ``method`` (default: ``settings.method``), built on first use."""
        index = self.require_index()
        method = method or self.settings.method
        if method not in self._retrievers:
            self._retrievers[method] = make_retriever(method, self.embedder, index, self.settings)
        return self._retrievers[method]

    def ask(
        self,
        question: str,
        top_k: int,
        method: str | None = None,
        filters: Filters | None = None,
    ) -> Answer:
        """What ``POST /query`` answers: the ``top_k`` best passages for ``question``, read
        from one consistent state of the collection."""
        index = self.require_index()
        retriever = self.retriever(method)
        with index.lock.read():
            return search(retriever, index, question, top_k, filters)

    # ------------------------------------------------------------------- writing
    def upsert(self, documents: Sequence[Document]) -> list[WriteResult]:
        """Add or replace documents; creates the index if there is none yet."""
        with self._create_lock:
            if self.collection is None:
                if Store(self.settings.index_dir).exists():
                    raise IndexNotFoundError(self.index_error or "the index cannot be opened")
                self.collection = Collection.create(
                    self.settings.index_dir,
                    self.embedder,
                    [],
                    self.settings.chunk_size,
                    self.settings.chunk_overlap,
                    language=corpus_language(documents),
                    ann=ann_policy(self.settings),
                    backend=make_backend(self.settings),
                )
                self._retrievers, self.index_error = {}, None
        return self.collection.upsert(documents)

    def delete(self, doc_ids: Sequence[str]) -> list[WriteResult]:
        self.require_index()
        assert self.collection is not None
        return self.collection.delete(doc_ids)
