"""Run every evaluation and write ``eval/RESULTS.md`` and ``eval/methods.png``.

    make eval        # or: .venv/bin/python -m bench.results

Evaluates the seed question set, ``pira_xling`` and ``faquad_pt`` (read from
``../shared/benchmarks``, or ``--benchmarks DIR``) with every retrieval method, through
the same functions as ``qa eval``; each table in the report names its ``qa eval`` twin.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.common import cpu_flags
from bench.seed_formats import formats_section
from qa.core.config import Settings
from qa.embed import load_embedder
from qa.eval import report, runner
from qa.eval.datasets import load_beir
from qa.eval.metrics import METRICS
from qa.search import METHODS

REPO = Path(__file__).resolve().parent.parent
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
# the Milvus runs: label -> how the settings differ from FAISS's
STORES = {
    "milvus (vectors)": {"vector_store": "milvus", "milvus_mode": "vectors"},
    "milvus (replica)": {"vector_store": "milvus", "milvus_mode": "replica"},
}


def store_section(
    faiss_runs: dict[str, runner.EvalRun], store_runs: dict[str, dict[str, runner.EvalRun]]
) -> str:
    """The same questions on every store, side by side, with the largest difference."""
    labels = list(store_runs)
    rows = [
        [
            *("collection", "method", "group", "MRR@10 faiss"),
            *(f"MRR@10 {label}" for label in labels),
            *("largest |Δ|", "Recall@10 faiss"),
            *(f"Recall@10 {label}" for label in labels),
            "median ms faiss",
            *(f"median ms {label}" for label in labels),
        ]
    ]
    worst = 0.0
    for key, faiss_run in faiss_runs.items():
        if not all(key in runs for runs in store_runs.values()):
            continue
        others = [{r.method: r for r in store_runs[label][key].runs} for label in labels]
        for f in faiss_run.runs:
            if f.method not in STORE_METHODS:
                continue
            for group, g in f.groups().items():
                found = [o[f.method].groups()[group] for o in others]
                delta = max(abs(m["MRR@10"] - g["MRR@10"]) for m in found)
                worst = max(worst, delta)
                latency = group == "all"
                rows.append(
                    [
                        faiss_run.dataset,
                        f.label,
                        group,
                        f"{g['MRR@10']:.3f}",
                        *(f"{m['MRR@10']:.3f}" for m in found),
                        f"{delta:.3f}",
                        f"{g['Recall@10']:.3f}",
                        *(f"{m['Recall@10']:.3f}" for m in found),
                        f"{f.latency()[0]:.1f}" if latency else "",
                        *(f"{o[f.method].latency()[0]:.1f}" if latency else "" for o in others),
                    ]
                )
    return "\n".join(
        [
            STORE_HEADING,
            "",
            "The same collections indexed into each store, the same questions asked: FAISS in "
            "the process; Milvus Lite beside the index folder (`QA_MILVUS_MODE=vectors`, a "
            "file; HNSW, the default `QA_MILVUS_INDEX`); and the whole collection in Milvus, "
            "served by a stateless replica (`QA_MILVUS_MODE=replica`; a Milvus Lite server "
            "on loopback standing in for a cluster; docs/scaling-milvus.md). Commands: "
            f"`{STORE_COMMAND}` for all three, or per store `QA_VECTOR_STORE=milvus "
            "QA_MILVUS_MODE=… qa eval --method dense --method default` (and `--beir "
            "../shared/benchmarks/pira_xling --rebuild`). Largest MRR@10 difference from "
            f"FAISS: **{worst:.3f}**. The replica's latency is Milvus Lite's, a Python "
            'engine (eval/BENCH.md, "Replicas").',
            "",
            markdown_table(rows),
        ]
    )


OTHER_LANGUAGES = ("es", "ro", "de", "ru", "hi", "tr", "el", "zh", "vi", "th", "ar")
STORE_HEADING = "## Vector stores: FAISS and Milvus"
STORE_COMMAND = "python -m bench.results --only-stores"


def evaluate_stores(
    settings: Settings, embedder: Any, benchmarks: Path, stores: dict[str, Settings]
) -> dict[str, dict[str, runner.EvalRun]]:
    """The seed set and pira_xling, with :data:`STORE_METHODS`, on each of ``stores``."""
    flags = " ".join(f"--method {m}" for m in STORE_METHODS)
    out = {}
    for label, store in stores.items():
        out[label] = {
            "seed": runner.evaluate_seed_set(
                store,
                REPO / "eval" / "questions.jsonl",
                REPO / "seeds",
                STORE_METHODS,
                f"qa eval {flags}",
                embedder,
            ),
            "pira": runner.evaluate_beir(
                store,
                benchmarks / "pira_xling",
                STORE_METHODS,
                f"qa eval --beir ../shared/benchmarks/pira_xling {flags} --rebuild",
                embedder,
                rebuild=True,
            ),
        }
    return out


def only_stores(args: argparse.Namespace, settings: Settings, embedder: Any) -> None:
    """Re-run the store comparison alone and put it in place of that section of the
    report (its other sections, and their runs in the JSON, stay as they were)."""
    text = args.out.read_text(encoding="utf-8")
    if STORE_HEADING not in text:
        raise SystemExit(f"{args.out} has no section {STORE_HEADING!r}: run make eval")
    with milvus_server(args.out.parent) as uri:
        runs = evaluate_stores(
            settings, embedder, args.benchmarks, store_settings(settings, uri, faiss=True)
        )
    faiss = runs.pop("faiss")
    head, _, rest = text.partition(STORE_HEADING)
    tail = rest[rest.find("\n## ") :] if "\n## " in rest else "\n"
    args.out.write_text(head + store_section(faiss, runs) + "\n" + tail, encoding="utf-8")
    json_path = args.out.with_suffix(".json")
    saved = json.loads(json_path.read_text()) if json_path.is_file() else {}
    for label, by_key in runs.items():
        for key, run in by_key.items():
            saved[f"{key}_{label.replace(' ', '_')}"] = report.to_json(run)
    json_path.write_text(json.dumps(saved, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote the store section of {args.out.name}")


def store_settings(settings: Settings, uri: str, faiss: bool = False) -> dict[str, Settings]:
    stores = {"faiss": settings} if faiss else {}
    for label, update in STORES.items():
        if update["milvus_mode"] == "replica":
            update = {**update, "milvus_uri": uri, "milvus_collection": "results"}
        stores[label] = settings.model_copy(update=update)
    return stores


@contextmanager
def milvus_server(where: Path) -> Iterator[str]:
    """A Milvus Lite server on loopback for the replica runs, its data in a temporary
    folder."""
    from qa.testing import running_milvus

    with (
        tempfile.TemporaryDirectory(prefix="qa-milvus-") as data,
        running_milvus(Path(data)) as uri,
    ):
        yield uri


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
            f"null for {seed.get('null_unanswerable', 0):.3f} of them (held out). The answer "
            "model is fitted on folds split by article by `python -m bench.answers` "
            "(eval/ANSWERS.md, docs/answers.md).",
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


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmarks", type=Path, default=REPO.parent / "shared" / "benchmarks")
    parser.add_argument("--out", type=Path, default=REPO / "eval" / "RESULTS.md")
    parser.add_argument(
        "--only-stores",
        action="store_true",
        help="re-run the store comparison alone, in place of that section of the report",
    )
    return parser.parse_args()


def retrieval_runs(settings: Settings, embedder: Any, benchmarks: Path) -> dict[str, Any]:
    """The seed set and every benchmark, each with every method."""
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
        runs[key] = runner.evaluate_beir(
            settings,
            benchmarks / name,
            METHOD_ARGS,
            f"qa eval --beir ../shared/benchmarks/{name} {method_flags} --rebuild",
            embedder,
            rebuild=True,
        )
    return runs


def report_text(runs: dict[str, Any], off_topic: Any, store_runs: Any, seconds: float) -> str:
    seed = runs["seed"]
    text = [
        "# Retrieval and answer results",
        "",
        f"Produced by `make eval` (`python -m bench.results`) on {seed.date}, in {seconds:.0f} s.",
        "",
        f"- Machine: {seed.machine}; CPU flags: {cpu_flags()}.",
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
        formats_section(),
        store_section(runs, store_runs),
        "",
    ]
    return "\n".join(text)


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    settings = Settings()
    embedder = load_embedder(settings)
    if args.only_stores:
        only_stores(args, settings, embedder)
        return
    runs = retrieval_runs(settings, embedder, args.benchmarks)
    off_topic = off_topic_runs(settings, embedder, args.benchmarks)
    with milvus_server(args.out.parent) as uri:
        store_runs = evaluate_stores(
            settings, embedder, args.benchmarks, store_settings(settings, uri)
        )
    chart(runs, args.out.with_name("methods.png"))
    seconds = time.perf_counter() - started
    args.out.write_text(report_text(runs, off_topic, store_runs, seconds), encoding="utf-8")
    json_path = args.out.with_suffix(".json")
    json_path.write_text(
        json.dumps(
            {k: report.to_json(v) for k, v in runs.items()}
            | {
                f"{k}_{label.replace(' ', '_')}": report.to_json(v)
                for label, by_key in store_runs.items()
                for k, v in by_key.items()
            }
            | {"off_topic": [asdict(o) | {"null_rate": o.null_rate} for o in off_topic]},
            ensure_ascii=False,
            indent=1,
        ),
        encoding="utf-8",
    )
    print(f"wrote {args.out.name}, {json_path.name} and methods.png")


if __name__ == "__main__":
    main()
