"""Choose the answer among the best passages: the sentence (or two adjacent sentences) that
best answers the question, and how likely it is right.

Every sentence of the five best passages, and every run of two adjacent ones, is a
candidate, described by the features of :data:`~qa.answer.model.SCORER_FEATURES` (its
cosine with the question's forms, the share of the question's terms and of the things it
names that it holds, whether it holds what the question asks for, its passage's rank, …).
The fitted scorer picks one; the fitted confidence says how likely that one is right, from
the features of :data:`~qa.answer.model.CONFIDENCE_FEATURES` (how far it stands above the
next candidate, how much of the question's specific terms its passage holds, how far the
nearest passage stands out, the question's language group). Docs: docs/answers.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import numpy as np

from qa.answer.features import (
    QuestionProfile,
    asks_for,
    kind_match,
    salient_share,
    salient_tokens,
)
from qa.answer.model import Stage, confidence_group
from qa.answer.spans import looks_like_heading, sentence_ranks
from qa.embed import Embedder
from qa.embed.companion import CompanionEncoder, related
from qa.index import IndexView
from qa.ingest.language import LanguageDetector
from qa.search import Hit, SearchResult
from qa.search.translation import SUPPORTED_PAIRS

ANSWER_PASSAGES = 5  # the answer is looked for in this many of the best passages
COMPANION_SENTENCES = 8  # best candidates by cosine the second encoder re-scores
MARGIN_NEIGHBOURS = 20  # the margin compares the nearest passage with this many
LANGUAGE_GROUPS = ("translated", "related", "companion", "other")


@dataclass(frozen=True)
class Candidates:
    """Every candidate answer to one question, with what the model weighs."""

    spans: list[tuple[str, int, int, str]]  # doc_id, char_start, char_end, kind
    features: np.ndarray  # one row of SCORER_FEATURES per span
    passages: list[str]  # the text of each candidate's passage
    passage_terms: list[tuple[float, float]]  # per candidate: its passage's term share, and
    # the IDF of the rarest question term it lacks over the question's rarest term's
    profile: QuestionProfile
    margin: float
    passage_cosine: float


@dataclass(frozen=True)
class Candidate:
    """The best answer found, whatever its confidence."""

    doc_id: str
    char_start: int
    char_end: int
    kind: str  # "sentence" or "pair"
    confidence: float
    threshold: float  # the fitted stage's: below it no answer is given


def language_group(question: str, corpus: str, companion: bool) -> str:
    """How the question's language is served: ``translated`` (the collection's language,
    or one the translator covers), ``related`` (a close relative of it), ``companion``
    (one the second encoder serves) or ``other``."""
    if question == corpus or (question, corpus) in SUPPORTED_PAIRS:
        return "translated"
    if related(question, corpus):
        return "related"
    return "companion" if companion else "other"


def confidence_features(candidates: Candidates, logits: np.ndarray, best: int) -> np.ndarray:
    """The :data:`~qa.answer.model.CONFIDENCE_FEATURES` of candidate ``best``."""
    row = candidates.features[best]
    others = np.delete(logits, best)
    gap = float(logits[best] - others.max()) if len(others) else 5.0
    return np.asarray(
        [
            float(logits[best]),
            gap,
            row[0],  # cosine
            row[2],  # term share
            row[3],  # salient share
            salient_share(candidates.profile, candidates.passages[best]),
            *candidates.passage_terms[best],
            row[4],  # kind held
            row[5],  # kind missing
            candidates.margin,
            candidates.passage_cosine,
            *(float(candidates.profile.language_group == g) for g in LANGUAGE_GROUPS[1:]),
        ]
    )


def choose(candidates: Candidates, stage: Stage) -> Candidate:
    """The candidate ``stage``'s scorer prefers, with its confidence and threshold."""
    logits = stage.scorer.logit(candidates.features)
    best = int(np.argmax(logits))
    group = confidence_group(candidates.profile.language_group)
    features = confidence_features(candidates, logits, best)
    confidence = float(stage.confidence[group].probability(features)[0])
    doc_id, start, end, kind = candidates.spans[best]
    return Candidate(doc_id, start, end, kind, confidence, stage.threshold[group])


class _Terms:
    """Stemmed question terms, their IDF weights, and those a stored sentence holds."""

    def __init__(self, index: IndexView, question: str | None) -> None:
        self.index = index
        self.question = index.lexical.terms(question) if question else frozenset()
        self.idf = {t: index.lexical.idf(t) for t in self.question}
        self.total = sum(self.idf.values())

    def of(self, sentence: int) -> frozenset[str]:
        return self.index.sentence_terms(sentence) & self.question if self.question else frozenset()

    def share(self, terms: AbstractSet[str]) -> float:
        return sum(self.idf[t] for t in terms) / self.total if self.total else 0.0


class AnswerFinder:
    """Finds the candidate answers to a question among the passages a search returned."""

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

    def candidates(self, index: IndexView, result: SearchResult) -> Candidates | None:
        """Every candidate of the best passages, described (see the module docstring)."""
        hits = result.hits[:ANSWER_PASSAGES]
        ranks = sentence_ranks(index, hits)
        if not ranks:
            return None
        queries = result.vectors
        if queries is None:
            queries = self.embedder.encode_queries([result.question])
        ids = list(ranks)
        cosines = (index.vectors_of("sentences", ids) @ queries.T).max(axis=1)
        passage_cosine = float((index.vectors_of("chunks", [hits[0].row]) @ queries.T).max())
        language = self.language(result)
        lexical = self._lexical_form(index, result)
        terms = _Terms(index, lexical)
        cross = result.forms.cross if result.forms else None
        asked = result.forms is not None and result.forms.companion
        profile = QuestionProfile(
            asks_for(result.question) | (asks_for(cross) if cross else frozenset()),
            salient_tokens(result.question, cross),
            len(terms.question),
            language_group(language, index.language, asked),
        )
        rows = _Rows(index, hits, profile, terms)
        for sid, cosine in zip(ids, cosines, strict=True):
            rows.sentence(sid, float(cosine), ranks[sid])
        if not rows.rows:
            return None  # only headings
        rows.pairs()
        if asked and self.companion is not None:
            rows.second_opinion(self.companion, result.question)
        return Candidates(
            rows.spans,
            rows.matrix(),
            rows.passages,
            rows.passage_terms(),
            profile,
            self._margin(index, result, queries),
            passage_cosine,
        )

    def _margin(self, index: IndexView, result: SearchResult, queries: np.ndarray) -> float:
        """How far the nearest passage stands out from the next ones (the retriever's
        nearest passages when it kept them for every form of the question)."""
        enough = min(MARGIN_NEIGHBOURS, len(index.chunks))
        if (
            result.nearest is not None
            and len(result.nearest) == len(queries)
            and all(len(near) >= enough for near in result.nearest)
        ):
            return max(_margin([s for _, s in near[:MARGIN_NEIGHBOURS]]) for near in result.nearest)
        return max(
            _margin([s for _, s in index.search("chunks", q, MARGIN_NEIGHBOURS)]) for q in queries
        )

    def _lexical_form(self, index: IndexView, result: SearchResult) -> str | None:
        """The question in the collection's language, when there is such a form."""
        if result.forms is not None:
            return result.forms.lexical if result.forms.lexical_native else None
        return result.question if self.language(result) == index.language else None


class _Rows:
    """The candidates of one question as they are described (see :class:`AnswerFinder`)."""

    def __init__(
        self, index: IndexView, hits: Sequence[Hit], profile: QuestionProfile, terms: _Terms
    ) -> None:
        self.index, self.hits, self.profile, self.terms = index, hits, profile, terms
        self.spans: list[tuple[str, int, int, str]] = []
        self.passages: list[str] = []
        self.rows: list[list[float]] = []
        self.held: list[frozenset[str]] = []
        self.sentence_of: dict[int, int] = {}  # sentence id -> its row

    def _text(self, doc_id: str, start: int, end: int) -> str:
        return self.index.documents[doc_id].text[start:end]

    def sentence(self, sid: int, cosine: float, rank: int) -> None:
        """Sentence ``sid`` as a candidate, unless it is a title, headline or byline: they
        summarise or credit the article and do not answer (of the development questions
        whose candidates held a gold span, one in 300 had it in a heading only)."""
        s = self.index.sentences[sid]
        document = self.index.documents[s.doc_id]
        text = document.text[s.char_start : s.char_end]
        if looks_like_heading(text, document.title):
            return
        held = self.terms.of(sid)
        kind_held, kind_missing = kind_match(self.profile, text)
        self.sentence_of[sid] = len(self.rows)
        self.spans.append((s.doc_id, s.char_start, s.char_end, "sentence"))
        self.passages.append(self.hits[rank].chunk.text)
        self.held.append(held)
        self.rows.append(
            [
                cosine,
                0.0,  # the gap to the best cosine, set in matrix()
                self.terms.share(held),
                salient_share(self.profile, text),
                kind_held,
                kind_missing,
                float(rank),
                float(rank == 0),
                0.0,  # a pair
                math.log1p(len(text.split())),
                0.0,  # the second encoder's cosine, set by second_opinion()
            ]
        )

    def pairs(self) -> None:
        """Runs of two adjacent sentences of one document: the better of the two's
        cosine, and what their union holds."""
        for sid, i in list(self.sentence_of.items()):
            j = self.sentence_of.get(sid + 1)
            if j is None or not _adjacent(self.index, sid, sid + 1):
                continue
            doc_id, start, _, _ = self.spans[i]
            end = self.spans[j][2]
            text = self._text(doc_id, start, end)
            union = self.held[i] | self.held[j]
            kind_held, kind_missing = kind_match(self.profile, text)
            a, b = self.rows[i], self.rows[j]
            self.spans.append((doc_id, start, end, "pair"))
            self.passages.append(self.passages[i])
            self.held.append(union)
            self.rows.append(
                [
                    max(a[0], b[0]),
                    0.0,
                    self.terms.share(union),
                    salient_share(self.profile, text),
                    kind_held,
                    kind_missing,
                    min(a[6], b[6]),
                    max(a[7], b[7]),
                    1.0,
                    math.log1p(len(text.split())),
                    0.0,
                ]
            )

    def second_opinion(self, companion: CompanionEncoder, question: str) -> None:
        """The second encoder's cosine for the best candidates by cosine (they are few:
        encoding them costs a few milliseconds); the others get the lowest of those."""
        order = sorted(range(len(self.rows)), key=lambda i: -self.rows[i][0])
        top = order[:COMPANION_SENTENCES]
        texts = [self._text(*self.spans[i][:3]) for i in top]
        vectors = companion.encode([question, *texts])
        scores = vectors[1:] @ vectors[0]
        for i, score in zip(top, scores, strict=True):
            self.rows[i][10] = float(score)
        floor = float(scores.min()) if len(scores) else 0.0
        for i in order[COMPANION_SENTENCES:]:
            self.rows[i][10] = floor

    def passage_terms(self) -> list[tuple[float, float]]:
        """Per candidate: the term share of its passage, and how rare the rarest question
        term it lacks is (its IDF over the rarest question term's; 0 when it lacks none)."""
        terms = self.terms
        if not terms.question:
            return [(0.0, 0.0)] * len(self.rows)
        top = max(terms.idf.values()) or 1.0
        by_rank = []
        for hit in self.hits:
            held = self.index.lexical.terms(hit.chunk.text) & terms.question
            lacking = [terms.idf[t] for t in terms.question - held]
            by_rank.append((terms.share(held), max(lacking, default=0.0) / top))
        return [by_rank[int(row[6])] for row in self.rows]

    def matrix(self) -> np.ndarray:
        x = np.asarray(self.rows, dtype=np.float64)
        x[:, 1] = x[:, 0] - x[:, 0].max()
        return x


def _adjacent(index: IndexView, a: int, b: int) -> bool:
    first, second = index.sentences[a], index.sentences[b]
    return first.doc_id == second.doc_id and first.char_end <= second.char_start


def _margin(scores: list[float]) -> float:
    """The nearest passage's cosine less the mean of the :data:`MARGIN_NEIGHBOURS` nearest
    (``scores``, best first): a question the collection answers has passages that stand
    out; one it does not, a flat neighbourhood."""
    return scores[0] - sum(scores) / len(scores) if scores else 0.0
