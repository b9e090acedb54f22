"""Answer a question with the most relevant passages, exact citations and highlights.

A *retriever* ranks the passages (rows) of an :class:`~qa.index.Index` for a question
and marks in each the sentence that best answers it. Methods:

* ``dense`` — cosine between the question's and the passages' embeddings;
* ``bm25`` — BM25 over stemmed words of the collection's language;
* ``hybrid`` (default) — a weighted sum of z-normalised scores from five signals:
  passage cosine and best-sentence cosine for the question; the same two for the
  question translated across EN<->PT; and BM25 for the question in the collection's
  language (translated when it is written in another supported language).

``search`` then drops near-duplicate passages so that they never fill two slots.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from qa.chunk import Chunk
from qa.core.config import Settings
from qa.embed import Embedder
from qa.index import Filters, Index, Selection, StoredDocument
from qa.language import detector, partner, translator


@dataclass(frozen=True)
class Ranking:
    """Passages (rows) and scores, best first, and how to find a passage's best sentence."""

    candidates: list[tuple[int, float]]
    highlight: Callable[[int], tuple[int, int]]  # row -> document offsets of its best sentence


@dataclass(frozen=True)
class Hit:
    rank: int
    score: float
    chunk: Chunk
    document: StoredDocument
    highlight: tuple[int, int]


@dataclass(frozen=True)
class Answer:
    question: str
    hits: list[Hit]
    took_ms: float


class Retriever(Protocol):
    method: str

    def retrieve(self, question: str, k: int, selection: Selection | None = None) -> Ranking:
        """The ``k`` best passages (of ``selection`` when given), best first."""
        ...


# ------------------------------------------------------------------------- highlights
def best_sentence(
    index: Index, row: int, score: Callable[[list[int]], Sequence[float]]
) -> tuple[int, int]:
    """Span of the passage's highest-scoring sentence (the whole passage if it has none)."""
    ids = index.chunk_sentences[row]
    if not ids:
        chunk = index.chunks[row]
        return chunk.char_start, chunk.char_end
    best = index.sentences[ids[int(np.argmax(score(ids)))]]
    return best.char_start, best.char_end


def best_sentence_by_vectors(index: Index, row: int, queries: np.ndarray) -> tuple[int, int]:
    """Span of the passage's sentence closest to any of the query vectors."""
    return best_sentence(
        index, row, lambda ids: (index.sentence_matrix(ids) @ queries.T).max(axis=1)
    )


def best_sentence_by_terms(
    index: Index, row: int, terms: set[str], sentence_terms: Callable[[int], set[str]]
) -> tuple[int, int]:
    """Span of the passage's sentence sharing the most stemmed terms with the question."""
    return best_sentence(index, row, lambda ids: [len(terms & sentence_terms(i)) for i in ids])


# ------------------------------------------------------------------------- retrievers
def sentence_signal(
    index: Index, query: np.ndarray, n: int, selection: Selection | None = None
) -> list[tuple[int, float]]:
    """Passages scored by their best sentence, from the ``4n`` nearest sentences."""
    best: dict[int, float] = {}
    for sid, score in index.search_sentences(query, 4 * n, selection):
        for row in index.sentences[sid].chunks:
            if score > best.get(row, -2.0):
                best[row] = score
    return sorted(best.items(), key=lambda item: -item[1])[:n]


class DenseRetriever:
    method = "dense"

    def __init__(self, embedder: Embedder, index: Index) -> None:
        self.embedder, self.index = embedder, index

    def retrieve(self, question: str, k: int, selection: Selection | None = None) -> Ranking:
        query = self.embedder.encode_queries([question])
        return Ranking(
            self.index.search(query[0], k, selection),
            lambda row: best_sentence_by_vectors(self.index, row, query),
        )


class LexicalRetriever:
    method = "bm25"

    def __init__(self, index: Index) -> None:
        self.index = index
        self._terms: dict[int, set[str]] = {}

    def sentence_terms(self, sentence: int) -> set[str]:
        """Stemmed terms of a stored sentence (computed once)."""
        if sentence not in self._terms:
            s = self.index.sentences[sentence]
            text = self.index.documents[s.doc_id].text[s.char_start : s.char_end]
            self._terms[sentence] = self.index.lexical.terms(text)
        return self._terms[sentence]

    def retrieve(self, question: str, k: int, selection: Selection | None = None) -> Ranking:
        terms = self.index.lexical.terms(question)
        return Ranking(
            self.index.search_lexical(question, k, selection),
            lambda row: best_sentence_by_terms(self.index, row, terms, self.sentence_terms),
        )


@dataclass(frozen=True)
class FusionWeights:
    """Hybrid signal weights; defaults and meanings live in :class:`~qa.core.config.Settings`."""

    dense: float
    sentence: float
    cross: float
    lexical: float
    lexical_untranslated: float


def znorm_fuse(signals: Sequence[tuple[float, list[tuple[int, float]]]]) -> list[tuple[int, float]]:
    """Weighted sum of per-signal z-scores; a passage absent from a signal's list gets 0 there."""
    fused: dict[int, float] = {}
    for weight, ranked in signals:
        if weight == 0 or not ranked:
            continue
        scores = np.array([s for _, s in ranked], dtype=np.float64)
        mean, std = scores.mean(), scores.std()
        for (row, _), z in zip(ranked, (scores - mean) / (std if std > 0 else 1.0), strict=True):
            fused[row] = fused.get(row, 0.0) + weight * float(z)
    return sorted(fused.items(), key=lambda item: -item[1])


@dataclass(frozen=True)
class QueryForms:
    """The question as each signal uses it."""

    language: str
    cross: str | None  # translated across EN<->PT, for the dense signals
    lexical: str  # in the collection's language when a translation exists
    lexical_native: bool  # whether ``lexical`` is in the collection's language


class HybridRetriever:
    method = "hybrid"

    def __init__(
        self,
        embedder: Embedder,
        index: Index,
        weights: FusionWeights,
        languages: Sequence[str],
        translate: bool = True,
        candidates: int = 100,
    ) -> None:
        self.embedder, self.index, self.weights = embedder, index, weights
        self.detector = detector(tuple(languages))
        self.translator = translator() if translate else None
        self.candidates = candidates

    def forms(self, question: str) -> QueryForms:
        lang = self.detector.detect(question)
        corpus = self.index.language
        cross, lexical, native = None, question, lang == corpus
        if self.translator is not None:
            if lang == corpus:
                other = partner(corpus)
                cross = self.translator.translate(question, corpus, other) if other else None
            elif self.translator.supports(lang, corpus):
                cross = self.translator.translate(question, lang, corpus)
                if cross:
                    lexical, native = cross, True
        return QueryForms(lang, cross, lexical, native)

    def retrieve(self, question: str, k: int, selection: Selection | None = None) -> Ranking:
        forms = self.forms(question)
        texts = [question] + ([forms.cross] if forms.cross else [])
        vectors = self.embedder.encode_queries(texts)
        n, w = max(self.candidates, k), self.weights
        signals = [
            (w.dense, self.index.search(vectors[0], n, selection)),
            (w.sentence, sentence_signal(self.index, vectors[0], n, selection)),
            (
                w.lexical if forms.lexical_native else w.lexical_untranslated,
                self.index.search_lexical(forms.lexical, n, selection),
            ),
        ]
        if len(vectors) > 1:
            signals += [
                (w.cross * w.dense, self.index.search(vectors[1], n, selection)),
                (w.cross * w.sentence, sentence_signal(self.index, vectors[1], n, selection)),
            ]
        return Ranking(
            znorm_fuse(signals)[:k],
            lambda row: best_sentence_by_vectors(self.index, row, vectors),
        )


RETRIEVERS: dict[str, Callable[[Embedder, Index, Settings], Retriever]] = {
    "dense": lambda embedder, index, settings: DenseRetriever(embedder, index),
    "bm25": lambda embedder, index, settings: LexicalRetriever(index),
    "hybrid": lambda embedder, index, settings: HybridRetriever(
        embedder,
        index,
        FusionWeights(
            settings.weight_dense,
            settings.weight_sentence,
            settings.weight_cross,
            settings.weight_lexical,
            settings.weight_lexical_untranslated,
        ),
        settings.languages,
        settings.translate,
        settings.candidates,
    ),
}
METHODS = tuple(RETRIEVERS)


def make_retriever(method: str, embedder: Embedder, index: Index, settings: Settings) -> Retriever:
    if method not in RETRIEVERS:
        raise ValueError(f"unknown retrieval method {method!r}; choose one of {', '.join(METHODS)}")
    return RETRIEVERS[method](embedder, index, settings)


# ----------------------------------------------------------------------------- search
_WORD = re.compile(r"\w+")
NEAR_DUPLICATE = 0.8  # word-set Jaccard similarity at which two passages count as one


def _words(text: str) -> frozenset[str]:
    return frozenset(w.casefold() for w in _WORD.findall(text))


def near_duplicate(a: frozenset[str], b: frozenset[str]) -> bool:
    if not a or not b:
        return a == b
    return len(a & b) / len(a | b) >= NEAR_DUPLICATE


def search(
    retriever: Retriever,
    index: Index,
    question: str,
    top_k: int,
    filters: Filters | None = None,
) -> Answer:
    """The ``top_k`` best passages for ``question``, best first, never two near-duplicates;
    with ``filters``, only passages of the documents they accept (chosen before the cut)."""
    started = time.perf_counter()
    selection = index.select(filters)
    # Ask for a few more than needed so that skipped duplicates do not shorten the list.
    ranking = retriever.retrieve(question, top_k + min(top_k, 10), selection)
    hits: list[Hit] = []
    kept: list[frozenset[str]] = []
    for row, score in ranking.candidates:
        chunk = index.chunks[row]
        words = _words(chunk.text)
        if any(near_duplicate(words, other) for other in kept):
            continue
        kept.append(words)
        document = index.documents[chunk.doc_id]
        hits.append(Hit(len(hits) + 1, score, chunk, document, ranking.highlight(row)))
        if len(hits) == top_k:
            break
    return Answer(question, hits, (time.perf_counter() - started) * 1000)
