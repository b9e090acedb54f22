"""Reports of an evaluation run: text tables for the terminal, and JSON."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from qa.eval.datasets import normalise
from qa.eval.metrics import METRICS
from qa.eval.runner import EvalRun, MethodRun


def _fmt_row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(
        c.ljust(w) if i == 0 else c.rjust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )


def method_table(run: EvalRun) -> list[list[str]]:
    header = ["method", "n", *METRICS, "median ms", "p95 ms"]
    rows = [header]
    for r in run.runs:
        m = r.groups()["all"]
        med, p95 = r.latency()
        rows.append(
            [
                r.label,
                str(len(r.scored())),
                *(f"{m[k]:.3f}" for k in METRICS),
                f"{med:.1f}",
                f"{p95:.1f}",
            ]
        )
    return rows


ANSWER_COLUMNS = {
    "held_answer_accuracy": "answer holds gold, held out",
    "answer_accuracy": "fitted",
    "highlight_accuracy": "rank-1 highlight holds gold (baseline)",
    "held_answered": "answered, held out",
    "answered": "fitted",
    "held_null_unanswerable": "null when unanswerable, held out",
    "null_unanswerable": "fitted",
}


def answer_table(run: EvalRun) -> list[list[str]] | None:
    """The answer stage beside retrieval: how often the best answer found holds a gold
    answer (against the rank-1 highlight, the baseline), how often an answer is given, and
    how often an unanswerable question gets none — by the answer model fitted without the
    question's article (*held out*) and by the one the service runs (*fitted*)."""
    rows = [["method", *ANSWER_COLUMNS.values()]]
    for r in run.runs:
        figures = r.answers()
        if figures is None:
            return None
        rows.append([r.label, *(rate(figures.get(k)) for k in ANSWER_COLUMNS)])
    return rows


def reliability_table(run: EvalRun) -> list[list[str]] | None:
    """The held-out confidence of the default method's answers against how often they
    were right, by confidence bin, with the expected calibration error."""
    default = next((r for r in run.runs if r.method == "default"), run.runs[0])
    found = default.calibration()
    if found is None:
        return None
    ece, bins = found
    rows = [["confidence (held out)", "questions", "mean confidence", "share right"]]
    rows += [[b, str(n), f"{c:.3f}", f"{r:.3f}"] for b, n, c, r in bins]
    rows.append(
        ["expected calibration error", str(sum(n for _, n, _, _ in bins)), f"{ece:.3f}", ""]
    )
    return rows


def rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def group_table(run: EvalRun) -> list[list[str]]:
    rows = [["method / group", "n", *METRICS]]
    named = {r.method for r in run.runs}
    for r in run.runs:
        if r.method == "default" and r.resolved in named:
            continue  # same figures as the row of the method it resolves to
        sizes = r.group_sizes()
        for group, m in r.groups().items():
            if group == "all":
                continue
            rows.append(
                [f"{r.label} / {group}", str(sizes[group]), *(f"{m[k]:.3f}" for k in METRICS)]
            )
    return rows


def calibration(run: MethodRun) -> dict[str, float] | None:
    """Top-1 scores of answerable vs. unanswerable questions (unanswerable scored apart)."""
    unanswerable = [o.top_score for o in run.outcomes if not o.question.answerable]
    if not unanswerable:
        return None
    hits = [o.top_score for o in run.scored() if o.judged.matches[:1] and o.judged.matches[0]]
    return {
        "unanswerable": len(unanswerable),
        "median_top_score_unanswerable": statistics.median(unanswerable),
        "max_top_score_unanswerable": max(unanswerable),
        "median_top_score_correct": statistics.median(hits) if hits else 0.0,
        "correct_below_max_unanswerable": sum(1 for s in hits if s <= max(unanswerable)),
        "correct": len(hits),
    }


def misses(run: MethodRun) -> list[dict[str, Any]]:
    out = []
    for o in run.scored():
        if o.judged.matches and o.judged.matches[0]:
            continue
        first_hit = next((i + 1 for i, m in enumerate(o.judged.matches) if m), None)
        got_id, got_text = o.returned[0] if o.returned else ("", "")
        expected = (
            [s for _, s in o.question.answers]
            if o.question.answers
            else sorted(o.question.relevant_docs)
        )
        out.append(
            {
                "id": o.question.qid,
                "lang": o.question.lang,
                "question": o.question.question,
                "expected": expected,
                "rank_of_first_relevant": first_hit,
                "returned_first": got_id,
                "returned_text": normalise(got_text)[:160],
            }
        )
    return out


def render_text(run: EvalRun) -> str:
    lines = [
        f"{run.dataset} — {run.level} level; index: {run.index['documents']} documents, "
        f"{run.index['passages']} passages; {run.date}"
    ]
    for table in (method_table(run), group_table(run), answer_table(run), reliability_table(run)):
        if table is None:
            continue
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        lines += ["", *(_fmt_row(row, widths) for row in table)]
    lines.append("")
    lines.append("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in run.seconds.items()))
    for r in run.runs:
        cal = calibration(r)
        if cal:
            lines.append(
                f"unanswerable ({r.label}): {cal['unanswerable']} questions, median top-1 score "
                f"{cal['median_top_score_unanswerable']:.3f} (max "
                f"{cal['max_top_score_unanswerable']:.3f}) vs "
                f"{cal['median_top_score_correct']:.3f} for correct answers "
                f"({cal['correct_below_max_unanswerable']} of "
                f"{cal['correct']} correct answers score at or below that max)"
            )
    first = run.runs[0]
    missed = misses(first)
    lines += ["", f"missed at rank 1 by {first.label}: {len(missed)}"]
    for m in missed[:50]:
        rank = m["rank_of_first_relevant"]
        lines.append(f"- [{m['id']} {m['lang']}] {m['question']}")
        lines.append(
            f"    expected: {' | '.join(map(str, m['expected']))[:160]}"
            f"  (first relevant at rank {rank if rank else '>10'})"
        )
        lines.append(f"    got: {m['returned_first']}: {m['returned_text']}")
    if len(missed) > 50:
        lines.append(f"  … and {len(missed) - 50} more (see --json)")
    return "\n".join(lines)


def to_json(run: EvalRun) -> dict[str, Any]:
    return {
        "dataset": run.dataset,
        "level": run.level,
        "date": run.date,
        "machine": run.machine,
        "command": run.command,
        "index": run.index,
        "seconds": run.seconds,
        "methods": {
            r.label: {
                "n": len(r.scored()),
                "metrics": r.groups(),
                "group_sizes": r.group_sizes(),
                "latency_ms": dict(zip(("median", "p95"), r.latency(), strict=True)),
                "calibration": calibration(r),
                "answers": r.answers(),
                "missed_at_1": misses(r),
            }
            for r in run.runs
        },
    }
