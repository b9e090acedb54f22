"""Fit the answer model (qa/answer/model.json) on the development questions, in folds split
by article, and report it on the folds it did not see::

    python -m bench.answers            # ask every question, fit, write model.json and the report
    python -m bench.answers --reuse    # refit from the questions asked last time

The questions: the seed set (answerable and near-topic unanswerable), faquad_pt and
xquad_xling (answerable, with their gold spans; xquad_xling in 13 languages, spans of at
least 4 characters), xquad_xling's near-topic unanswerable questions (SQuAD 2.0's), and
off-topic ones (another benchmark's questions asked of a collection). pira_xling's answers
are written, not spans of the passages: it is left out.

Each question belongs to the fold of its article (:func:`qa.answer.model.fold_of`): the
seed article its gold snippet is in, the Wikipedia article of an xquad_xling paragraph,
the document of faquad_pt. For each fold, the scorer, the confidence and the threshold
are fitted on the other folds (the confidence on choices the scorer made for questions
whose article it did not see either) and applied to the fold: those are the held-out
figures; the same fitted on every fold are the model the service runs, and its figures on
its own questions are the fitted ones. The report: eval/ANSWERS.md.
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import ROOT, SHARED, cpu_flags, log, machine
from bench.logistic import fit_choice, fit_logistic
from qa.answer import Candidates, Stage, choose
from qa.answer.finder import confidence_features
from qa.answer.model import (
    CONFIDENCE_FEATURES,
    CONFIDENCE_GROUPS,
    MODEL_FILE,
    SCORER_FEATURES,
    confidence_group,
    fold_of,
)
from qa.eval.metrics import expected_calibration_error, reliability

FOLDS = 5
ANSWERED_TARGET = 0.90  # share of answerable training questions the threshold answers
CACHE = ROOT / "index" / "answer-questions.pkl"


@dataclass
class Asked:
    """One development question as the answer stage saw it."""

    group: str  # the set it is reported in
    article: str  # its fold key
    lang: str
    kind: str  # "answerable", "near" (near-topic unanswerable) or "off" (off-topic)
    candidates: Candidates | None
    labels: np.ndarray  # per candidate: whether it holds a gold span

    @property
    def fold(self) -> int:
        return fold_of(self.article, FOLDS)

    @property
    def learnable(self) -> bool:
        """An answerable question whose candidates hold a gold span: the scorer learns."""
        return self.kind == "answerable" and bool(self.labels.any())


def fit_stage(train: list[Asked]) -> Stage:
    """Scorer, confidence and threshold fitted on ``train`` (see the module docstring)."""
    scorer = fit_scorer(train)
    inner = {a.fold for a in train}
    choices: dict[int, tuple[float, np.ndarray]] = {}
    for k in inner:  # the confidence learns from choices made without the question's fold
        held = [a for a in train if a.fold == k and a.candidates is not None]
        inner_scorer = fit_scorer([a for a in train if a.fold != k]) if len(inner) > 1 else scorer
        for a in held:
            choices[id(a)] = choice_of(a, inner_scorer)
    confidence, threshold = {}, {}
    for group in CONFIDENCE_GROUPS:
        mine = [a for a in train if id(a) in choices and group_of(a) == group]
        x = np.asarray([choices[id(a)][1] for a in mine])
        y = np.asarray([choices[id(a)][0] for a in mine])
        confidence[group] = fit_logistic(x, y, penalty=1.0)
        answerable = [a for a in mine if a.kind == "answerable"]
        scores = np.sort(
            confidence[group].probability(np.asarray([choices[id(a)][1] for a in answerable]))
        )
        threshold[group] = float(scores[int((1 - ANSWERED_TARGET) * len(scores))])
    return Stage(scorer, confidence, threshold)


def group_of(asked: Asked) -> str:
    assert asked.candidates is not None
    return confidence_group(asked.candidates.profile.language_group)


def fit_scorer(train: list[Asked]) -> Any:
    """The conditional logit choosing among a question's candidates (see
    :func:`bench.logistic.fit_choice`)."""
    rows = [a for a in train if a.learnable and a.candidates is not None]
    return fit_choice([(a.candidates.features, a.labels.astype(float)) for a in rows])


def choice_of(asked: Asked, scorer: Any) -> tuple[float, np.ndarray]:
    """Whether ``scorer``'s choice holds a gold span, and its confidence features."""
    assert asked.candidates is not None
    logits = scorer.logit(asked.candidates.features)
    best = int(np.argmax(logits))
    correct = float(asked.kind == "answerable" and asked.labels[best])
    return correct, confidence_features(asked.candidates, logits, best)


def confidence_of(asked: Asked, stage: Stage) -> tuple[bool, float, float]:
    """Whether ``stage``'s answer to ``asked`` is right, its confidence and the threshold."""
    if asked.candidates is None:
        return False, 0.0, 1.0
    chosen = choose(asked.candidates, stage)
    correct, _ = choice_of(asked, stage.scorer)
    return bool(correct), chosen.confidence, chosen.threshold


def predictions(asked: list[Asked], stages: dict[int, Stage] | Stage) -> list[dict[str, Any]]:
    """Each question's outcome under its fold's stage (held out) or one stage (fitted)."""
    out = []
    for a in asked:
        stage = stages if isinstance(stages, Stage) else stages[a.fold]
        correct, confidence, threshold = confidence_of(a, stage)
        out.append(
            {
                "group": a.group,
                "lang": a.lang,
                "kind": a.kind,
                "language_group": a.candidates.profile.language_group if a.candidates else "",
                "correct": correct,
                "confidence": confidence,
                "answered": confidence >= threshold,
            }
        )
    return out


def summary(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per set: answer accuracy and answered rate (answerable), or the null rate."""
    out: dict[str, dict[str, float]] = {}
    for group in dict.fromkeys(r["group"] for r in rows):
        mine = [r for r in rows if r["group"] == group]
        if mine[0]["kind"] == "answerable":
            out[group] = {
                "n": len(mine),
                "accuracy": float(np.mean([r["correct"] for r in mine])),
                "answered": float(np.mean([r["answered"] for r in mine])),
                "answered_right": float(np.mean([r["answered"] and r["correct"] for r in mine])),
            }
        else:
            out[group] = {"n": len(mine), "null": float(np.mean([not r["answered"] for r in mine]))}
    return out


def calibration(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Expected calibration error and reliability table, overall and per language group."""
    out: dict[str, Any] = {}
    groups = {"all": rows}
    for g in ("translated", "related", "companion", "other"):
        groups[g] = [r for r in rows if r["language_group"] == g]
    for name, mine in groups.items():
        if not mine:
            continue
        conf = np.asarray([r["confidence"] for r in mine])
        right = np.asarray([r["correct"] for r in mine], dtype=float)
        out[name] = {
            "n": len(mine),
            "ece": expected_calibration_error(conf, right),
            "table": reliability(conf, right),
        }
    return out


def fit_and_report(asked: list[Asked]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model file's content and the report's figures."""
    folds = sorted({a.fold for a in asked})
    held_out = {k: fit_stage([a for a in asked if a.fold != k]) for k in range(FOLDS)}
    log(f"answers: folds {folds} fitted; the full model")
    full = fit_stage(asked)
    held_rows, fitted_rows = predictions(asked, held_out), predictions(asked, full)
    model = {
        "scorer_features": list(SCORER_FEATURES),
        "confidence_features": list(CONFIDENCE_FEATURES),
        "folds": FOLDS,
        "fitted": f"python -m bench.answers on {datetime.now(UTC):%Y-%m-%d}",
        "questions": len(asked),
        "full": full.to_json(),
        "held_out": [held_out[k].to_json() for k in range(FOLDS)],
    }
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "cpu_flags": cpu_flags(),
        "questions": len(asked),
        "held_out": summary(held_rows),
        "fitted": summary(fitted_rows),
        "calibration_held_out": calibration(held_rows),
        "calibration_fitted": calibration(fitted_rows),
        "thresholds": [held_out[k].to_json()["threshold"] for k in range(FOLDS)],
        "threshold": full.to_json()["threshold"],
        "by_language_held_out": by_language(held_rows),
    }
    return model, report


def by_language(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """xquad_xling's answer accuracy and answered rate per question language."""
    out = {}
    xquad = [r for r in rows if r["group"] == "xquad_xling"]
    for lang in sorted({r["lang"] for r in xquad}):
        mine = [r for r in xquad if r["lang"] == lang]
        out[lang] = {
            "accuracy": float(np.mean([r["correct"] for r in mine])),
            "answered": float(np.mean([r["answered"] for r in mine])),
        }
    return out


def main() -> None:
    from bench.answer_questions import ask_development_questions
    from bench.answer_report import write_report

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reuse", action="store_true", help="refit from the last questions")
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "ANSWERS.md")
    args = parser.parse_args()
    if args.reuse and CACHE.is_file():
        asked = pickle.loads(CACHE.read_bytes())
    else:
        asked = ask_development_questions(SHARED)
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        CACHE.write_bytes(pickle.dumps(asked))
    random.seed(7)
    model, report = fit_and_report(asked)
    MODEL_FILE.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
    write_report(report, args.out)
    print(json.dumps(report["held_out"], indent=1))


if __name__ == "__main__":
    main()
