"""Choose the answer among the best passages: the sentence (or two adjacent sentences) that
best answers the question, and how sure that is.

Each candidate is scored by its cosine with the question (the stored sentence vectors; the
question's forms as the retriever embedded them), the IDF-weighted share of the question's
terms it holds (in the collection's language), the rank of its passage, and whether it is
a heading or byline. The confidence of the chosen one is a logistic function of its
signals, fitted on answerable and unanswerable questions (``bench/calibrate_answers.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from qa.answer.spans import looks_like_heading, sentence_ranks
from qa.embed import Embedder
from qa.embed.companion import CompanionEncoder
from qa.index import IndexView
from qa.ingest.language import LanguageDetector
from qa.search import SearchResult

# Candidate scoring (tuned on the seed set, faquad_pt and xquad_xling answers).
WEIGHT_LEXICAL = 0.1  # per unit of IDF-weighted question-term share
WEIGHT_RANK = 0.02  # per rank of the passage the candidate comes from
HEADING_PENALTY = 0.1
PAIR_COST = 0.01  # what a second sentence must earn to join the first
ANSWER_PASSAGES = 5  # the answer is looked for in this many of the best passages
COMPANION_SENTENCES = 8  # best candidates the second encoder re-scores (when it is asked)
WEIGHT_COMPANION = 0.1  # per unit of the second encoder's cosine
MARGIN_NEIGHBOURS = 20  # the margin compares the nearest passage with this many

# Confidence: logistic over Signals.features(), fitted by bench/calibrate_answers.py
# (answerable questions of four collections = 1, other benchmarks' questions = 0).
CONFIDENCE_WEIGHTS = (10.15, 3.66, -3.94, 28.00, 119.85)
CONFIDENCE_BIAS = -32.92


@dataclass(frozen=True)
class Signals:
    """What the confidence of an answer is computed from."""

    cosine: float  # the answer's best cosine with a form of the question
    lexical: float  # IDF-weighted share of the question's terms the answer holds
    lexical_known: bool  # whether the question has terms in the collection's language
    passage: float  # cosine of the best passage with the question
    margin: float  # how far the nearest passage stands out from the next ones

    def features(self) -> tuple[float, ...]:
        return (self.cosine, self.lexical, float(self.lexical_known), self.passage, self.margin)

    def confidence(self) -> float:
        z = CONFIDENCE_BIAS + sum(
            w * x for w, x in zip(CONFIDENCE_WEIGHTS, self.features(), strict=True)
        )
        return 1.0 / (1.0 + math.exp(-z))


@dataclass(frozen=True)
class Candidate:
    """The best answer found, whatever its confidence."""

    doc_id: str
    char_start: int
    char_end: int
    kind: str  # "sentence" or "pair"
    signals: Signals

    @property
    def confidence(self) -> float:
        return self.signals.confidence()


class _Scored(NamedTuple):
    score: float
    sentences: tuple[int, ...]
    cosine: float
    held: set[str]  # the question's terms it holds


class _Terms:
    """Stemmed question terms, their IDF weights, and those a stored sentence holds."""

    def __init__(self, index: IndexView, question: str | None) -> None:
        self.index = index
        self.question = index.lexical.terms(question) if question else set()
        self.idf = {t: index.lexical.idf(t) for t in self.question}
        self.total = sum(self.idf.values())

    def of(self, sentence: int) -> set[str]:
        return self.index.sentence_terms(sentence) & self.question if self.question else set()

    def share(self, terms: set[str]) -> float:
        return sum(self.idf[t] for t in terms) / self.total if self.total else 0.0


class AnswerFinder:
    """Finds the answer to a question among the passages a search returned."""

    def __init__(
        self,
        embedder: Embedder,
        detector: LanguageDetector,
        companion: CompanionEncoder | None = None,
    ) -> None:
        self.embedder, self.detector, self.companion = embedder, detector, companion

    def language(self, result: SearchResult) -> str:
        """The question's language."""
        return result.forms.language if result.forms else self.detector.detect(result.question)

    def find(self, index: IndexView, result: SearchResult) -> Candidate | None:
        hits = result.hits[:ANSWER_PASSAGES]
        ranks = sentence_ranks(index, hits)
        if not ranks:
            return None
        queries = result.vectors
        if queries is None:
            queries = self.embedder.encode_queries([result.question])
        ids = list(ranks)
        cosines = (index.vectors_of("sentences", ids) @ queries.T).max(axis=1)
        passage = float((index.vectors_of("chunks", [hits[0].row]) @ queries.T).max())
        enough = min(MARGIN_NEIGHBOURS, len(index.chunks))
        if (
            result.nearest is not None
            and len(result.nearest) == len(queries)
            and all(len(near) >= enough for near in result.nearest)
        ):
            margin = max(
                _margin([s for _, s in near[:MARGIN_NEIGHBOURS]]) for near in result.nearest
            )
        else:
            margin = max(
                _margin([s for _, s in index.search("chunks", q, MARGIN_NEIGHBOURS)])
                for q in queries
            )
        terms = _Terms(index, self._lexical_form(index, result))
        scored = [
            self._score(index, sid, float(cos), ranks[sid], terms)
            for sid, cos in zip(ids, cosines, strict=True)
        ]
        if result.forms is not None and result.forms.companion and self.companion is not None:
            scored = self._second_opinion(index, result.question, scored)
        best = max([*scored, *self._pairs(index, scored, terms)], key=lambda c: c.score)
        first, last = index.sentences[best.sentences[0]], index.sentences[best.sentences[-1]]
        kind = "pair" if len(best.sentences) > 1 else "sentence"
        share = terms.share(best.held)
        signals = Signals(best.cosine, share, bool(terms.question), passage, margin)
        return Candidate(first.doc_id, first.char_start, last.char_end, kind, signals)

    def _second_opinion(
        self, index: IndexView, question: str, scored: list[_Scored]
    ) -> list[_Scored]:
        """For a question the retriever gave the second encoder (a language far from the
        collection's, no term overlap to go by): its cosine added to the best candidates'
        scores — they are few, so encoding them costs a few milliseconds."""
        assert self.companion is not None
        order = sorted(range(len(scored)), key=lambda i: -scored[i].score)
        top = order[:COMPANION_SENTENCES]
        texts = []
        for i in top:
            s = index.sentences[scored[i].sentences[0]]
            texts.append(index.documents[s.doc_id].text[s.char_start : s.char_end])
        vectors = self.companion.encode([question, *texts])
        out = list(scored)
        for i, v in zip(top, vectors[1:], strict=True):
            bonus = WEIGHT_COMPANION * float(v @ vectors[0])
            out[i] = out[i]._replace(score=out[i].score + bonus)
        for i in order[COMPANION_SENTENCES:]:
            out[i] = out[i]._replace(score=-1.0)  # never above a re-scored one
        return out

    def _lexical_form(self, index: IndexView, result: SearchResult) -> str | None:
        """The question in the collection's language, when there is such a form."""
        if result.forms is not None:
            return result.forms.lexical if result.forms.lexical_native else None
        return result.question if self.language(result) == index.language else None

    @staticmethod
    def _score(index: IndexView, sid: int, cosine: float, rank: int, terms: _Terms) -> _Scored:
        sentence = index.sentences[sid]
        document = index.documents[sentence.doc_id]
        text = document.text[sentence.char_start : sentence.char_end]
        held = terms.of(sid)
        score = cosine + WEIGHT_LEXICAL * terms.share(held) - WEIGHT_RANK * rank
        if looks_like_heading(text, document.title):
            score -= HEADING_PENALTY
        return _Scored(score, (sid,), cosine, held)

    @staticmethod
    def _pairs(
        index: IndexView,
        scored: Sequence[_Scored],
        terms: _Terms,
    ) -> list[_Scored]:
        """Runs of two adjacent sentences of one document, scored by the better of the two
        plus what the union of their terms adds, less :data:`PAIR_COST`."""
        by_id = {c.sentences[0]: c for c in scored}
        pairs = []
        for sid, one in by_id.items():
            two = by_id.get(sid + 1)
            if two is None or not _adjacent(index, sid, sid + 1):
                continue
            union = one.held | two.held
            gain = WEIGHT_LEXICAL * (
                terms.share(union) - max(terms.share(one.held), terms.share(two.held))
            )
            score = max(one.score, two.score) + gain - PAIR_COST
            pairs.append(_Scored(score, (sid, sid + 1), max(one.cosine, two.cosine), union))
        return pairs


def _adjacent(index: IndexView, a: int, b: int) -> bool:
    first, second = index.sentences[a], index.sentences[b]
    return first.doc_id == second.doc_id and first.char_end <= second.char_start


def _margin(scores: list[float]) -> float:
    """The nearest passage's cosine less the mean of the :data:`MARGIN_NEIGHBOURS` nearest
    (``scores``, best first; the retriever's when it has them, unfiltered): a question the
    collection answers has passages that stand out; one it does not, a flat neighbourhood."""
    return scores[0] - sum(scores) / len(scores) if scores else 0.0
