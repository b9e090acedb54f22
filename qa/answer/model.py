"""The fitted answer model: which candidate answers the question (the *scorer*), and how
likely that answer is right (the *confidence*), both logistic over named features
(:mod:`qa.answer.features`), read from ``model.json`` beside this module.

``python -m bench.answers`` fits them on the development questions, split into folds by
article: besides the model fitted on every fold (the one the service runs), the file
keeps one model per fold fitted without it, so that an evaluation can score each question
with a model that never saw its article (:meth:`AnswerModel.held_out`), and report both
figures and the gap between them.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

MODEL_FILE = Path(__file__).with_name("model.json")

SCORER_FEATURES = (
    *("cosine", "cosine_gap", "term_share", "salient_share", "kind_held", "kind_missing"),
    *("rank", "first_passage", "pair", "length", "companion"),
)
CONFIDENCE_FEATURES = (
    *("score", "score_gap", "cosine", "term_share", "salient_share", "salient_in_passage"),
    *("passage_term_share", "rarest_lacking", "kind_held", "kind_missing", "margin"),
    *("passage_cosine", "group_related", "group_companion", "group_other"),
)
# The confidence is fitted apart for questions in the collection's language or one the
# translator covers, and for the others: their signals differ (no term share, lower
# cosines), and so do the questions there is to fit on (SQuAD 2.0's unanswerable ones exist
# in Portuguese, and in English by translation, only).
CONFIDENCE_GROUPS = ("translated", "untranslated")


def confidence_group(language_group: str) -> str:
    """The confidence group of a question's language group (see :mod:`qa.answer.finder`)."""
    return "translated" if language_group == "translated" else "untranslated"


@dataclass(frozen=True)
class Logistic:
    """``1 / (1 + exp(-(x @ weights + bias)))`` over standardised features."""

    weights: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray

    def logit(self, x: np.ndarray) -> np.ndarray:
        return ((np.atleast_2d(x) - self.mean) / self.scale) @ self.weights + self.bias

    def probability(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(self.logit(x), -40, 40)))

    def to_json(self) -> dict[str, Any]:
        return {
            "weights": [round(float(w), 6) for w in self.weights],
            "bias": round(float(self.bias), 6),
            "mean": [round(float(m), 6) for m in self.mean],
            "scale": [round(float(s), 6) for s in self.scale],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Logistic:
        return cls(
            np.asarray(data["weights"], dtype=np.float64),
            float(data["bias"]),
            np.asarray(data["mean"], dtype=np.float64),
            np.asarray(data["scale"], dtype=np.float64),
        )


@dataclass(frozen=True)
class Stage:
    """One fitted answer stage: the scorer, and per confidence group the confidence and the
    threshold below which no answer is given (chosen on the same questions as the
    models)."""

    scorer: Logistic
    confidence: dict[str, Logistic]
    threshold: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "scorer": self.scorer.to_json(),
            "confidence": {g: m.to_json() for g, m in self.confidence.items()},
            "threshold": {g: round(t, 4) for g, t in self.threshold.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Stage:
        return cls(
            Logistic.from_json(data["scorer"]),
            {g: Logistic.from_json(m) for g, m in data["confidence"].items()},
            {g: float(t) for g, t in data["threshold"].items()},
        )


_PARAGRAPH = re.compile(r"-\d+$")


def article_of(collection: str, doc_id: str) -> str:
    """The key of the article a document belongs to, in ``collection`` (a paragraph's
    trailing number dropped: ``sq2pt-Normans-003`` is of ``sq2pt-Normans``)."""
    return f"{collection}:{_PARAGRAPH.sub('', doc_id)}"


def fold_of(article: str, folds: int) -> int:
    """The fold an article belongs to (the same for every question about it)."""
    return zlib.crc32(article.encode("utf-8")) % folds


class AnswerModel:
    """The stages of ``model.json`` (see the module docstring)."""

    def __init__(self, data: dict[str, Any]) -> None:
        if (
            tuple(data["scorer_features"]) != SCORER_FEATURES
            or tuple(data["confidence_features"]) != CONFIDENCE_FEATURES
        ):
            raise ValueError("the answer model was fitted on other features: refit it")
        self.data = data
        self.folds = int(data["folds"])

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> AnswerModel:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    @cached_property
    def full(self) -> Stage:
        """The stage fitted on every fold: the one the service runs."""
        return Stage.from_json(self.data["full"])

    @cached_property
    def _held_out(self) -> list[Stage]:
        return [Stage.from_json(d) for d in self.data["held_out"]]

    def held_out(self, article: str) -> Stage:
        """The stage fitted without ``article``'s fold."""
        return self._held_out[fold_of(article, self.folds)]
