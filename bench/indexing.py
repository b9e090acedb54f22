"""The ``index`` section of the benchmarks (see :mod:`bench`)."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from pathlib import Path
from typing import Any

from bench.common import FAKEBR, log, run_measured, table
from bench.late_chunking import sentence_choice, where_time_goes
from qa.core.config import Settings


def bench_index(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    records = work / "fakebr.jsonl"
    with gzip.open(FAKEBR, "rt", encoding="utf-8") as f, records.open("w") as out:
        for i, line in enumerate(f):
            if i >= args.limit:
                break
            out.write(line)
    index_dir = work / "fakebr-index"
    env = dict(os.environ, QA_BACKEND=args.backend)
    log(f"index: {args.limit} fakebr records")
    seconds, peak, _ = run_measured(
        [
            sys.executable,
            "-m",
            "qa.cli",
            "index",
            "--source",
            str(records),
            "--index-dir",
            str(index_dir),
        ],
        env,
    )
    counts = json.loads((index_dir / "manifest.json").read_text())["counts"]
    # the same records in one process, stage by stage, and late chunking weighed
    settings = Settings(backend=args.backend)
    stages = where_time_goes(records, settings)
    choice = sentence_choice(settings)
    return {
        "stages": stages,
        "sentence_choice": choice,
        "ratio": round(counts["chunks"] / seconds / stages["embedder_passages_per_s"], 2),
        "records": args.limit,
        "backend": args.backend,
        "passages": counts["chunks"],
        "sentences": counts["sentences"],
        "seconds": round(seconds, 1),
        "passages_per_s": round(counts["chunks"] / seconds, 1),
        "texts_per_s": round((counts["chunks"] + counts["sentences"]) / seconds, 1),
        "peak_rss_mb": round(peak),
        "index_dir": str(index_dir),
    }


def render(results: dict[str, Any]) -> list[str]:
    """The report's section for ``results["index"]``."""
    out: list[str] = []
    i = results["index"]
    out += [
        "## Indexing",
        "",
        f"`qa index` on the first {i['records']} records of fakebr_news (backend "
        f"`{i['backend']}`), in a child process: every passage and every sentence is "
        "embedded, and every passage by the second encoder too (the default "
        "`QA_COMPANION`).",
        "",
        table(
            [
                "records",
                "passages",
                "sentences",
                "seconds",
                "passages/s",
                "texts embedded/s",
                "peak RSS MB",
            ],
            [
                [
                    i["records"],
                    i["passages"],
                    i["sentences"],
                    i["seconds"],
                    i["passages_per_s"],
                    i["texts_per_s"],
                    i["peak_rss_mb"],
                ]
            ],
        ),
        "",
    ]
    if "stages" in i:  # reports from before the breakdown have none
        out += _stages(i)
    return out


def _stages(i: dict[str, Any]) -> list[str]:
    st, c = i["stages"], i["sentence_choice"]
    sec = st["seconds"]
    total = sum(sec[k] for k in ("read", "chunk", "passages", "sentences", "companion", "lexical"))
    rows = [
        ["read the .jsonl", sec["read"]],
        ["chunk into passages and sentences", sec["chunk"]],
        ["embed the passages (the embedder's own rate: baseline)", sec["passages"]],
        ["embed every sentence on its own (what `qa index` does)", sec["sentences"]],
        ["the second encoder over the passages", sec["companion"]],
        ["lexical postings", sec["lexical"]],
    ]
    return [
        "### Where the time goes",
        "",
        f"The same {st['documents']} records in one process, each stage alone "
        f"({st['passages']} passages, {st['sentences']} sentences; `bench/late_chunking.py`). "
        f"The embedder's own rate: **{st['embedder_passages_per_s']} passages/s**; `qa index` "
        f"above: {i['passages_per_s']} passages/s, a ratio of **{i['ratio']}** (the target of "
        "0.9 is not met: the sentences cost a second pass over about as many tokens).",
        "",
        table(
            ["stage", "seconds", "share"],
            [[name, v, f"{v / total:.0%}"] for name, v in rows],
        ),
        "",
        "Late chunking weighed: each sentence's vector pooled from its passage's own forward "
        f"pass takes {sec['pooled']} s for passages and sentences together (against "
        f"{round(sec['passages'] + sec['sentences'], 1)} s), the passage vectors unchanged "
        f"(largest difference {st['passage_vectors_differ_by']:.1g}); a pooled sentence's "
        f"cosine to the same sentence embedded alone: median {st['pooled_vs_separate_cosine']}. "
        "But each pooled sentence carries its passage's context, and the sentence nearest "
        "the question is the answer stage's first signal: over "
        f"{c['questions']} xquad_xling questions in {c['languages']} languages, the gold "
        "passage's sentence nearest the question holds the gold answer "
        f"{c['separate']} of the time with separate vectors, **{c['pooled']}** pooled. Not at "
        "equal quality: `qa index` keeps embedding each sentence on its own.",
        "",
    ]
