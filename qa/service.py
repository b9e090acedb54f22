"""The running service's state, in one place: settings, the loaded model, the live index."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from qa.core.config import Settings
from qa.core.errors import IndexNotFoundError, QAError
from qa.embed import Embedder, load_embedder
from qa.index import Index, open_index
from qa.search import Answer, Retriever, make_retriever, search

log = logging.getLogger(__name__)


@dataclass
class QAService:
    """Loaded once at start-up; every request reads from it."""

    settings: Settings
    embedder: Embedder
    index: Index | None = None
    index_error: str | None = field(default=None)
    _retrievers: dict[str, Retriever] = field(default_factory=dict, repr=False)

    @classmethod
    def start(cls, settings: Settings, embedder: Embedder | None = None) -> QAService:
        """Load the model, then the index if there is one (a missing index is not fatal)."""
        service = cls(settings, embedder or load_embedder(settings))
        service.reload_index()
        service.warm_up()
        return service

    def warm_up(self) -> None:
        """Build the default retriever and run one question, so that no request pays for
        lazy loading (lexical index, translation models, first model run)."""
        if self.index is not None:
            self.ask("What is this collection about?", 1)

    def reload_index(self) -> None:
        self._retrievers = {}
        try:
            self.index = open_index(self.settings.index_dir, self.embedder.name, self.embedder.dim)
            self.index_error = None
        except QAError as exc:
            self.index, self.index_error = None, str(exc)
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

    def ask(self, question: str, top_k: int, method: str | None = None) -> Answer:
        """What ``POST /query`` answers: the ``top_k`` best passages for ``question``."""
        return search(self.retriever(method), self.require_index(), question, top_k)
