"""Run every evaluation and write ``eval/RESULTS.md`` and ``eval/methods.png``.

    make eval        # or: .venv/bin/python eval/make_results.py

Evaluates the seed question set, ``pira_xling`` and ``faquad_pt`` (read from
``../shared/benchmarks``, or ``--benchmarks DIR``) with every retrieval method, through
the same functions as ``qa eval``; each table in the report names its ``qa eval`` twin.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from qa.core.config import Settings
from qa.embed import load_embedder
from qa.eval import report, runner
from qa.eval.datasets import load_beir
from qa.eval.metrics import METRICS
from qa.search import METHODS

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
METHOD_ARGS = [*METHODS, "default"]


def markdown_table(rows: list[list[str]]) -> str:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def section(title: str, run: runner.EvalRun) -> str:
    parts = [
        f"## {title}",
        "",
        f"`{run.command}` — {run.level}-level, index of {run.index['documents']} documents / "
        f"{run.index['passages']} passages; time: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in run.seconds.items()),
        "",
        markdown_table(report.method_table(run)),
        "",
        "Per language"
        + (" and split" if any("/" in g for g in run.runs[0].groups()) else "")
        + ":",
        "",
        markdown_table(report.group_table(run)),
    ]
    answers = report.answer_table(run)
    if answers is not None:
        parts += [
            "",
            "The answer stage (`answer` of each reply; the best answer found, given or not, "
            "against the rank-1 passage's highlight):",
            "",
            markdown_table(answers),
        ]
    for r in run.runs:
        cal = report.calibration(r)
        if cal and r.method != "default":
            parts += [
                "",
                f"Unanswerable questions ({r.label}, not in the figures above): "
                f"{cal['unanswerable']}; median top-1 score "
                f"{cal['median_top_score_unanswerable']:.3f} (max "
                f"{cal['max_top_score_unanswerable']:.3f}) against "
                f"{cal['median_top_score_correct']:.3f} for questions answered correctly at "
                f"rank 1, {cal['correct_below_max_unanswerable']} of {cal['correct']} of which "
                "score at or below that max: "
                + (
                    "a threshold on the top score would reject them all and keep every "
                    "correct answer."
                    if cal["correct_below_max_unanswerable"] == 0
                    else "no threshold on the top score separates them."
                ),
            ]
    return "\n".join(parts)


STORE_METHODS = ["dense", "default"]


def store_section(
    faiss_runs: dict[str, runner.EvalRun], milvus_runs: dict[str, runner.EvalRun]
) -> str:
    """The same questions on both vector stores, side by side, with the differences."""
    rows = [
        [
            "collection",
            "method",
            "group",
            "MRR@10 faiss",
            "MRR@10 milvus",
            "|Δ|",
            "Recall@10 faiss",
            "Recall@10 milvus",
            "median ms faiss",
            "median ms milvus",
        ]
    ]
    worst = 0.0
    for key, milvus in milvus_runs.items():
        faiss = {r.method: r for r in faiss_runs[key].runs}
        for r in milvus.runs:
            f = faiss[r.method]
            for group, m in r.groups().items():
                g = f.groups()[group]
                delta = abs(m["MRR@10"] - g["MRR@10"])
                worst = max(worst, delta)
                rows.append(
                    [
                        milvus.dataset,
                        r.label,
                        group,
                        f"{g['MRR@10']:.3f}",
                        f"{m['MRR@10']:.3f}",
                        f"{delta:.3f}",
                        f"{g['Recall@10']:.3f}",
                        f"{m['Recall@10']:.3f}",
                        f"{f.latency()[0]:.1f}" if group == "all" else "",
                        f"{r.latency()[0]:.1f}" if group == "all" else "",
                    ]
                )
    commands = "; ".join(f"`QA_VECTOR_STORE=milvus {run.command}`" for run in milvus_runs.values())
    return "\n".join(
        [
            "## Vector stores: FAISS and Milvus (Lite)",
            "",
            "The FAISS figures are the runs above; the Milvus runs index the same collections "
            f"into Milvus Lite (HNSW, the default `QA_MILVUS_INDEX`) and ask the same questions: "
            f"{commands}. Largest MRR@10 difference: **{worst:.3f}**.",
            "",
            markdown_table(rows),
        ]
    )


OTHER_LANGUAGES = ("es", "ro", "de", "ru", "hi", "tr", "el", "zh", "vi", "th", "ar")


def language_table(run: runner.EvalRun) -> str:
    """MRR@10 per question language, methods as rows; the mean of the eleven languages
    other than English and Portuguese, and the gap of the default to dense alone."""
    named = {r.method for r in run.runs}
    rows = [["method", *OTHER_LANGUAGES, "mean of 11", "en", "pt"]]
    for r in run.runs:
        if r.method == "default" and r.resolved in named:
            continue
        groups = r.groups()
        values = [groups[lang]["MRR@10"] for lang in OTHER_LANGUAGES]
        rows.append(
            [
                r.label,
                *(f"{v:.3f}" for v in values),
                f"**{sum(values) / len(values):.3f}**",
                f"{groups['en']['MRR@10']:.3f}",
                f"{groups['pt']['MRR@10']:.3f}",
            ]
        )
    return markdown_table(rows)


OFF_TOPIC = (  # (questions of, asked of): pairs of collections about different things
    ("faquad_pt", "seeds"),
    ("faquad_pt", "xquad_xling"),
    ("pira_xling", "faquad_pt"),
    ("xquad_xling", "faquad_pt"),
)


def off_topic_runs(settings: Settings, embedder: Any, benchmarks: Path) -> list[runner.OffTopicRun]:
    """Every question of one benchmark asked of another's collection."""
    out = []
    for questions_of, collection in OFF_TOPIC:
        questions = load_beir(benchmarks / questions_of).questions
        sources = (
            [REPO / "seeds"]
            if collection == "seeds"
            else [benchmarks / collection / "corpus.jsonl"]
        )
        service = runner.evaluation_service(settings, embedder, collection, sources, {})
        out.append(runner.evaluate_off_topic(service, questions, questions_of, collection))
    return out


def answer_section(runs: dict[str, runner.EvalRun], off_topic: list[runner.OffTopicRun]) -> str:
    """The answer stage across collections, and the replies to questions they cannot answer."""
    rows = [["collection", "questions", *report.ANSWER_COLUMNS.values()]]
    for run in runs.values():
        default = next(r for r in run.runs if r.method == "default")
        figures = default.answers()
        if figures is None:
            continue
        rows.append(
            [
                run.dataset,
                str(len(default.scored())),
                *(report.rate(figures.get(k)) for k in report.ANSWER_COLUMNS),
            ]
        )
    off = [
        [
            "questions of",
            "asked of",
            "questions",
            "null (the articles don't say)",
            "median confidence",
        ]
    ]
    off += [
        [
            o.questions,
            o.collection,
            str(o.asked),
            f"{o.null_rate:.3f}",
            f"{o.median_confidence:.3f}",
        ]
        for o in off_topic
    ]
    seed = next(r for r in runs["seed"].runs if r.method == "default").answers() or {}
    return "\n".join(
        [
            "## Answers",
            "",
            "Each reply's `answer`: the sentence (or two adjacent sentences) of the top five "
            "passages that best answers the question, given when its confidence reaches "
            "`QA_ANSWER_MIN_CONFIDENCE`. Default method. *Holds gold*: the seed set's snippet, "
            "or the benchmark's answer string (faquad_pt, xquad_xling: extractive; pira_xling's "
            "answers are written freely and rarely occur verbatim, so its row measures little), "
            "occurs in the best answer found; the baseline is the rank-1 passage's highlight.",
            "",
            markdown_table(rows),
            "",
            "Questions a collection cannot answer — another benchmark's, asked of it — should "
            'get `"answer": null`:',
            "",
            markdown_table(off),
            "",
            f"Near-topic questions the seed articles do not answer (other companies' CEOs, "
            f"figures the articles do not give; tagged `unanswerable` in eval/questions.jsonl): "
            f"null for {seed.get('null_unanswerable', 0):.3f} of them. The confidence is fitted "
            "by `python eval/calibrate_answers.py` (docs/answers.md).",
        ]
    )


def chart(runs: dict[str, runner.EvalRun], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [
        ("seed set", runs["seed"], "all"),
        ("pira EN→PT", runs["pira"], "en"),
        ("pira PT→PT", runs["pira"], "pt"),
        ("faquad PT", runs["faquad"], "all"),
        ("xquad 13 languages", runs["xquad"], "all"),
    ]
    named = {r.method for r in runs["seed"].runs}
    labels = [
        r.label
        for r in runs["seed"].runs
        if not (r.method == "default" and r.resolved in named)  # same bars as its method
    ]
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=120)
    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        values = [
            next(r for r in run.runs if r.label == label).groups()[g]["MRR@10"]
            for _, run, g in groups
        ]
        xs = [x + (i - (len(labels) - 1) / 2) * width for x in range(len(groups))]
        bars = ax.bar(xs, values, width, label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize=8, padding=2)
    ax.set_xticks(range(len(groups)), [g for g, _, _ in groups])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("MRR@10")
    ax.set_title("Retrieval methods compared (higher is better)")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmarks", type=Path, default=REPO.parent / "shared" / "benchmarks")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    started = time.perf_counter()
    settings = Settings()
    embedder = load_embedder(settings)

    method_flags = " ".join(f"--method {m}" for m in METHOD_ARGS)
    runs = {
        "seed": runner.evaluate_seed_set(
            settings,
            REPO / "eval" / "questions.jsonl",
            REPO / "seeds",
            METHOD_ARGS,
            f"qa eval {method_flags}",
            embedder,
        )
    }
    for key, name in (("pira", "pira_xling"), ("faquad", "faquad_pt"), ("xquad", "xquad_xling")):
        folder = args.benchmarks / name
        runs[key] = runner.evaluate_beir(
            settings,
            folder,
            METHOD_ARGS,
            f"qa eval --beir ../shared/benchmarks/{name} {method_flags} --rebuild",
            embedder,
            rebuild=True,
        )
    off_topic = off_topic_runs(settings, embedder, args.benchmarks)
    milvus_settings = settings.model_copy(update={"vector_store": "milvus"})
    store_runs = {
        "seed": runner.evaluate_seed_set(
            milvus_settings,
            REPO / "eval" / "questions.jsonl",
            REPO / "seeds",
            STORE_METHODS,
            "qa eval " + " ".join(f"--method {m}" for m in STORE_METHODS),
            embedder,
        ),
        "pira": runner.evaluate_beir(
            milvus_settings,
            args.benchmarks / "pira_xling",
            STORE_METHODS,
            "qa eval --beir ../shared/benchmarks/pira_xling "
            + " ".join(f"--method {m}" for m in STORE_METHODS)
            + " --rebuild",
            embedder,
            rebuild=True,
        ),
    }
    chart(runs, args.out.with_name("methods.png"))
    seed = runs["seed"]
    text = [
        "# Retrieval and answer results",
        "",
        f"Produced by `make eval` (`python eval/make_results.py`) on {seed.date}, "
        f"in {time.perf_counter() - started:.0f} s.",
        "",
        f"- Machine: {seed.machine}.",
        f"- Model: `{seed.index['model']}`; passages of at most {seed.index['chunking']['size']} "
        f"characters, {seed.index['chunking']['overlap']} of overlap.",
        f"- Metrics: {', '.join(METRICS)}; latency is in-process per question "
        "(question embedding included), median and p95.",
        "- Seed set: passage level (a passage counts when it holds a gold snippet). "
        "Benchmarks: document level (a document ranks at its best passage).",
        "- `default` is the method `POST /query` uses; its per-language rows are those of the "
        "method it resolves to.",
        "",
        "![MRR@10 by method](methods.png)",
        "",
        section("Seed question set (`eval/questions.jsonl`)", runs["seed"]),
        "",
        section("pira_xling — EN→PT and PT→PT", runs["pira"]),
        "",
        section("faquad_pt", runs["faquad"]),
        "",
        section("xquad_xling — 12 languages and Portuguese", runs["xquad"]),
        "",
        "MRR@10 by question language (the same questions in each; document level):",
        "",
        language_table(runs["xquad"]),
        "",
        answer_section(runs, off_topic),
        "",
        store_section(runs, store_runs),
        "",
    ]
    args.out.write_text("\n".join(text), encoding="utf-8")
    json_path = args.out.with_suffix(".json")
    json_path.write_text(
        json.dumps(
            {k: report.to_json(v) for k, v in runs.items()}
            | {f"{k}_milvus": report.to_json(v) for k, v in store_runs.items()}
            | {"off_topic": [asdict(o) | {"null_rate": o.null_rate} for o in off_topic]},
            ensure_ascii=False,
            indent=1,
        ),
        encoding="utf-8",
    )
    print(f"wrote {args.out.name}, {json_path.name} and methods.png")


if __name__ == "__main__":
    main()
