"""Retrievers: rank the passages of an index for a question, and mark in each the sentence
that best answers it.

* ``dense`` — cosine between the question's and the passages' embeddings;
* ``bm25`` — BM25 over stemmed words of the collection's language;
* ``hybrid`` (default) — a weighted sum of z-normalised scores of the signals the question's
  language can use: passage cosine and best-sentence cosine for the question, always (the
  best sentence scored over the passages the other signals found); for
  the collection's language and those the translator covers (EN<->PT), the same two
  cosines for the question translated, and BM25 for it in the collection's language; for
  the other languages the second encoder covers, its passage cosine (re-scoring the
  candidates of the other signals). Which signals and why: docs/ranking.md.

A retriever holds no index: it is given the state to search at each call, so the one a
service builds once serves every state the collection goes through.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from qa.core.config import Settings
from qa.embed import Embedder
from qa.embed.companion import CompanionEncoder, related
from qa.index import IndexView, Selection
from qa.ingest.language import LanguageDetector
from qa.search.fusion import FusionWeights, znorm_fuse
from qa.search.highlights import best_sentence_by_terms, best_sentence_by_vectors
from qa.search.translation import Translator, partner


@dataclass(frozen=True)
class QueryForms:
    """The question as each signal uses it."""

    language: str
    cross: str | None  # translated across EN<->PT, for the dense signals
    lexical: str  # in the collection's language when a translation exists
    lexical_native: bool  # whether ``lexical`` is in the collection's language
    companion: bool = False  # whether the second encoder's signal helps this language


@dataclass(frozen=True)
class Ranking:
    """Passages (rows) and scores, best first, and how to find a passage's best sentence;
    with the query vectors and forms the retriever computed (for the answer stage)."""

    candidates: list[tuple[int, float]]
    highlight: Callable[[int], tuple[int, int]]  # row -> document offsets of its best sentence
    vectors: np.ndarray | None = None  # one row per form of the question that was embedded
    forms: QueryForms | None = None
    embed_ms: float = 0.0  # of the retrieval, the time spent embedding the question
    # with no filter: each query vector's nearest passages, best first (for the answer stage)
    nearest: tuple[list[tuple[int, float]], ...] | None = None


class Retriever(Protocol):
    method: str

    def retrieve(
        self, index: IndexView, question: str, k: int, selection: Selection | None = None
    ) -> Ranking:
        """The ``k`` best passages of ``index`` (of ``selection`` when given), best first."""
        ...


def sentence_signals(
    index: IndexView, queries: np.ndarray, rows: Sequence[int], n: int
) -> list[list[tuple[int, float]]]:
    """For each query vector, the ``n`` best of passages ``rows`` by their best sentence's
    cosine with it.

    Scored over the candidates the other signals found rather than searched over every
    sentence: the same MRR@10 on the seed set, pira_xling and faquad_pt (eval/RESULTS.md),
    and a query reads a few hundred sentence vectors (once for every query vector) instead
    of searching four times as many vectors as there are passages."""
    held = [index.chunks.sentences_of(row) for row in rows]
    ids = [sid for sentences in held for sid in sentences]
    if not ids:
        return [[] for _ in queries]
    owners = np.repeat(np.asarray(rows, dtype=np.int64), [len(h) for h in held])
    scores = index.vectors_of("sentences", ids) @ np.atleast_2d(queries).T
    out = []
    for column in scores.T:
        # each passage's best sentence: sort by (passage, score), keep each passage's last
        order = np.lexsort((column, owners))
        last = np.r_[owners[order][1:] != owners[order][:-1], True]
        best_rows, best = owners[order][last], column[order][last]
        top = np.lexsort((best_rows, -best))[:n]
        out.append([(int(r), float(v)) for r, v in zip(best_rows[top], best[top], strict=True)])
    return out


class DenseRetriever:
    method = "dense"

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def retrieve(
        self, index: IndexView, question: str, k: int, selection: Selection | None = None
    ) -> Ranking:
        started = time.perf_counter()
        query = self.embedder.encode_queries([question])
        embed_ms = (time.perf_counter() - started) * 1000
        hits = index.search("chunks", query[0], k, selection)
        return Ranking(
            hits,
            lambda row: best_sentence_by_vectors(index, row, query),
            query,
            embed_ms=embed_ms,
            nearest=(hits,) if selection is None else None,
        )


class LexicalRetriever:
    method = "bm25"

    def retrieve(
        self, index: IndexView, question: str, k: int, selection: Selection | None = None
    ) -> Ranking:
        terms = index.lexical.terms(question)
        return Ranking(
            index.search_lexical(question, k, selection),
            lambda row: best_sentence_by_terms(index, row, terms, index.sentence_terms),
        )


class HybridRetriever:
    method = "hybrid"

    def __init__(
        self,
        embedder: Embedder,
        weights: FusionWeights,
        detector: LanguageDetector,
        candidates: int,
        translator: Translator | None = None,
        companion: CompanionEncoder | None = None,
    ) -> None:
        self.embedder, self.weights, self.detector = embedder, weights, detector
        self.translator, self.companion = translator, companion
        self.candidates = candidates

    def forms(self, question: str, corpus: str) -> QueryForms:
        """The question's language and forms, for a collection in the language ``corpus``."""
        lang = self.detector.detect(question)
        cross, lexical, native = None, question, lang == corpus
        if self.translator is not None:
            if lang == corpus:
                other = partner(corpus)
                cross = self.translator.translate(question, corpus, other) if other else None
            elif self.translator.supports(lang, corpus):
                cross = self.translator.translate(question, lang, corpus)
                if cross:
                    lexical, native = cross, True
        # The second encoder is for languages nothing else serves: measured, it costs a
        # little where the question or its translation is in the collection's language,
        # adds nothing for the collection language's close relatives, and is noise for
        # the languages it was not trained on.
        companion = (
            self.companion is not None
            and lang in self.companion.languages
            and not related(lang, corpus)
            and cross is None
        )
        return QueryForms(lang, cross, lexical, native, companion)

    def retrieve(
        self, index: IndexView, question: str, k: int, selection: Selection | None = None
    ) -> Ranking:
        forms = self.forms(question, index.language)
        texts = [question] + ([forms.cross] if forms.cross else [])
        started = time.perf_counter()
        vectors = self.embedder.encode_queries(texts)
        embed_ms = (time.perf_counter() - started) * 1000
        n, w = max(self.candidates, k), self.weights
        dense = index.search_many("chunks", vectors, n, selection)  # in one pass
        signals = [
            (w.dense, dense[0]),
            (
                w.lexical if forms.lexical_native else w.lexical_untranslated,
                index.search_lexical(forms.lexical, n, selection),
            ),
        ]
        if len(vectors) > 1:
            signals.append((w.cross * w.dense, dense[1]))
        # the passage cosines of the question (and of its translation), before the others
        nearest = tuple(ranked for _, ranked in signals[:: 2 if len(vectors) > 1 else 3])
        pool = sorted({row for _, ranked in signals for row, _ in ranked})
        best = sentence_signals(index, vectors, pool, n)
        signals.append((w.sentence, best[0]))
        if len(vectors) > 1:
            signals.append((w.cross * w.sentence, best[1]))
        if forms.companion and index.companion is not None and self.companion is not None:
            signals.append((w.companion, self._companion_signal(index, question, signals)))
        return Ranking(
            znorm_fuse(signals)[:k],
            lambda row: best_sentence_by_vectors(index, row, vectors),
            vectors,
            forms,
            embed_ms,
            nearest if selection is None else None,
        )

    def _companion_signal(
        self,
        index: IndexView,
        question: str,
        signals: Sequence[tuple[float, list[tuple[int, float]]]],
    ) -> list[tuple[int, float]]:
        """The second encoder's cosine for every candidate the other signals found (they
        already respect any filter), best first."""
        assert self.companion is not None and index.companion is not None
        rows = sorted({row for _, ranked in signals for row, _ in ranked})
        if not rows:
            return []
        query = self.companion.encode([question])[0]
        scores = index.companion.of(rows) @ query
        order = np.argsort(-scores, kind="stable")
        return [(rows[i], float(scores[i])) for i in order]


@dataclass(frozen=True)
class QueryModels:
    """What a retriever may use besides the embedding model, owned by the process (the
    service's :class:`~qa.service.Models`): the question's language detector, and the
    translator and second encoder when the settings use them."""

    detector: LanguageDetector
    translator: Translator | None = None
    companion: CompanionEncoder | None = None


RETRIEVERS: dict[str, Callable[[Embedder, Settings, QueryModels], Retriever]] = {
    "dense": lambda embedder, settings, models: DenseRetriever(embedder),
    "bm25": lambda embedder, settings, models: LexicalRetriever(),
    "hybrid": lambda embedder, settings, models: HybridRetriever(
        embedder,
        FusionWeights.from_settings(settings),
        models.detector,
        settings.candidates,
        models.translator,
        models.companion,
    ),
}
METHODS = tuple(RETRIEVERS)


def make_retriever(
    method: str, embedder: Embedder, settings: Settings, models: QueryModels | None = None
) -> Retriever:
    """The retriever for ``method``; ``models``: the process's detector, translator and
    second encoder (without: a detector of its own, and neither of the others)."""
    if method not in RETRIEVERS:
        raise ValueError(f"unknown retrieval method {method!r}; choose one of {', '.join(METHODS)}")
    models = models or QueryModels(LanguageDetector(settings.languages))
    return RETRIEVERS[method](embedder, settings, models)
