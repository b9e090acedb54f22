"""The models a process loads once, and their one owner.

The embedding model, the translator, the second encoder and the language detector are
each built here on first use (under a lock) and handed to whatever uses them — the
retrievers, the answer stage, the collection's writes — instead of living in module-level
caches. A service owns one :class:`Models`; so does each command.
"""

from __future__ import annotations

import threading
from functools import cached_property

from qa.answer import AnswerModel
from qa.core.config import Settings
from qa.embed import Embedder, embedder_backend, load_embedder
from qa.embed.batching import QueryBatcher
from qa.embed.companion import CompanionEncoder
from qa.ingest.language import LanguageDetector
from qa.search import QueryModels
from qa.search.translation import Translator


class Models:
    """What ``settings`` ask for, built once each (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        translator: Translator | None = None,
        companion: CompanionEncoder | None = None,
    ) -> None:
        """Models given here are used instead of building them (shared between services
        of one process, as an evaluation's are)."""
        self.settings = settings
        self._embedder = embedder
        self._translator, self._companion = translator, companion
        self.detector = LanguageDetector(settings.languages)  # its model loads on first use
        self._lock = threading.Lock()

    @property
    def loaded(self) -> Embedder | None:
        """The embedding model if it is loaded (nothing is loaded to say so)."""
        return self._embedder

    @property
    def embedder(self) -> Embedder:
        """The embedding model, loaded on first use."""
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    self._embedder = load_embedder(self.settings)
        return self._embedder

    @property
    def translator(self) -> Translator | None:
        """The offline translator, when questions or answers are translated."""
        s = self.settings
        if self._translator is None and (s.translate or s.translate_answers):
            with self._lock:
                self._translator = self._translator or Translator()
        return self._translator

    @property
    def companion(self) -> CompanionEncoder | None:
        """The second encoder, when the settings use it."""
        if self._companion is None and self.settings.companion:
            with self._lock:
                self._companion = self._companion or CompanionEncoder()
        return self._companion

    @cached_property
    def answer_model(self) -> AnswerModel:
        """The fitted answer model (its scorer, confidence and threshold)."""
        return AnswerModel.load()

    def for_queries(self) -> QueryModels:
        """What a retriever uses besides the embedding model."""
        return QueryModels(
            self.detector,
            self.translator if self.settings.translate else None,
            self.companion,
        )

    def batch_queries(self) -> None:
        """Embed the questions of concurrent requests together when the settings say so
        (by default for PyTorch only, whose per-call cost batching divides)."""
        s, embedder = self.settings, self.embedder
        if s.query_batching == "on" or (
            s.query_batching == "auto" and embedder_backend(embedder) == "torch"
        ):
            # Two workers: one embeds a batch while the other gathers the next.
            self._embedder = QueryBatcher(embedder, s.max_query_batch, workers=2)


def one_search_thread() -> None:
    """One FAISS thread per search: queries already run side by side (HTTP workers, the
    command's own work), and OpenMP threads spinning against the model's threads slow an
    exact search several times over on two busy cores."""
    import faiss

    faiss.omp_set_num_threads(1)
