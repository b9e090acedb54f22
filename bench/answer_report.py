"""eval/ANSWERS.md: the answer model's figures on the folds it did not see, beside its
figures on the questions it was fitted on, and the calibration of its confidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import table


def _pct(value: float) -> str:
    return f"{value:.3f}"


def set_rows(report: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for group, held in report["held_out"].items():
        fitted = report["fitted"][group]
        n = held["n"]
        if "accuracy" in held:
            rows.append(_row(group, n, "answer holds a gold span", held, fitted, "accuracy"))
            rows.append(_row("", "", "answered", held, fitted, "answered"))
        else:
            rows.append(_row(group, n, "no answer (null)", held, fitted, "null"))
    return rows


def _row(
    group: str, n: Any, label: str, held: dict[str, Any], fitted: dict[str, Any], key: str
) -> list[Any]:
    """One figure held out and fitted, and the gap between them."""
    gap = f"{fitted[key] - held[key]:+.3f}"
    return [group, n, label, _pct(held[key]), _pct(fitted[key]), gap]


def calibration_lines(report: dict[str, Any]) -> list[str]:
    held, fitted = report["calibration_held_out"], report["calibration_fitted"]
    names = {
        "all": "every question",
        "translated": "Portuguese and English (translated)",
        "related": "Portuguese's relatives (es, fr, it, ro, …)",
        "companion": "languages the second encoder serves (de, ru, zh, ar, th, tr, …)",
        "other": "other languages (hi, vi, el, …)",
    }
    ece_rows = [
        [names[g], held[g]["n"], _pct(held[g]["ece"]), _pct(fitted[g]["ece"])] for g in held
    ]
    reliability_rows = [
        [bin_, n, _pct(conf), _pct(right)] for bin_, n, conf, right in held["all"]["table"]
    ]
    return [
        "## Does the confidence mean what it says?",
        "",
        "Expected calibration error (ten confidence bins; |share right − mean confidence|, "
        "weighted by the bin's share), on the held-out folds and on the fitted questions. "
        "A question counts as right when its answer holds a gold span; an unanswerable one "
        "is never right.",
        "",
        table(["questions", "n", "ECE held out", "ECE fitted"], ece_rows),
        "",
        "Reliability on the held-out folds, every question:",
        "",
        table(["confidence", "answers", "mean confidence", "share right"], reliability_rows),
        "",
    ]


def write_report(report: dict[str, Any], out: Path) -> None:
    languages = report["by_language_held_out"]
    lines = [
        "# The answer model: fitted and held out",
        "",
        f"Produced by `python -m bench.answers` on {report['date']} ({report['questions']} "
        f"questions). Machine: {report['machine']}; CPU flags: {report['cpu_flags']}.",
        "",
        "Every weight and the threshold are fitted on four of five folds of articles and "
        "applied to the fifth (*held out*); the model the service runs is fitted on all five "
        "(*fitted*: its figures on its own questions). The gap is what fitting on a question "
        "buys: the held-out figure is the one to expect. Thresholds (questions in "
        "Portuguese or English / in other languages) per fold: "
        + "; ".join(f"{t['translated']} / {t['untranslated']}" for t in report["thresholds"])
        + f"; the service's: {report['threshold']['translated']} / "
        f"{report['threshold']['untranslated']}.",
        "",
        table(["set", "questions", "", "held out", "fitted", "gap"], set_rows(report)),
        "",
        "xquad_xling by question language, held out (the answer is a Portuguese sentence):",
        "",
        table(
            ["", *languages],
            [
                ["holds a gold span", *(_pct(v["accuracy"]) for v in languages.values())],
                ["answered", *(_pct(v["answered"]) for v in languages.values())],
            ],
        ),
        "",
        *calibration_lines(report),
    ]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
