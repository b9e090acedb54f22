"""The ``index`` section of the benchmarks (see :mod:`bench`)."""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from bench.common import FAKEBR, log, run_measured, table
from bench.late_chunking import sentence_choice, where_time_goes
from qa.core.config import Settings

CLUSTER_RECORDS = 300  # records the one-process and two-worker Milvus runs each write
CLUSTER_BATCH_CHARS = "50000"  # about 35 records a batch: work for both workers


def _records(work: Path, limit: int | None) -> tuple[Path, int]:
    """The first ``limit`` records of fakebr_news (all with ``None``) as a .jsonl."""
    records = work / f"fakebr-{limit or 'all'}.jsonl"
    with gzip.open(FAKEBR, "rt", encoding="utf-8") as f, records.open("w") as out:
        lines = list(itertools.islice(f, limit))
        out.writelines(lines)
    n = len(lines)
    return records, n


def _qa_index(records: Path, index_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """``qa index`` of ``records`` in a child process: seconds, rate and peak RSS."""
    command = [sys.executable, "-m", "qa.cli", "index", str(records), "--index-dir"]
    seconds, peak, _ = run_measured([*command, str(index_dir)], env)
    counts = json.loads((index_dir / "manifest.json").read_text())["counts"]
    return {
        "passages": counts["chunks"],
        "sentences": counts["sentences"],
        "seconds": round(seconds, 1),
        "passages_per_s": round(counts["chunks"] / seconds, 1),
        "texts_per_s": round((counts["chunks"] + counts["sentences"]) / seconds, 1),
        "peak_rss_mb": round(peak),
    }


def bench_index(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    records, n = _records(work, args.limit)
    index_dir = work / "fakebr-index"
    env = dict(os.environ, QA_BACKEND=args.backend)
    log(f"index: {n} fakebr records")
    run = _qa_index(records, index_dir, env)
    # the same records in one process, stage by stage, and late chunking weighed
    settings = Settings(backend=args.backend)
    stages = where_time_goes(records, settings)
    out: dict[str, Any] = {
        "records": n,
        "backend": args.backend,
        **run,
        "stages": stages,
        "sentence_choice": sentence_choice(settings),
        "ratio": round(run["passages_per_s"] / stages["embedder_passages_per_s"], 2),
        "cluster": bench_cluster(work, env),
        "index_dir": str(index_dir),
    }
    if args.index_all:
        everything, total = _records(work, None)
        log(f"index: all {total} fakebr records")
        out["whole"] = {"records": total, **_qa_index(everything, work / "fakebr-all", env)}
    return out


def bench_cluster(work: Path, env: dict[str, str]) -> dict[str, Any]:
    """The same records written into a Milvus server by one process (``qa add``), then by
    two Ray workers on this machine (``qa add --workers 2``)."""
    from qa.testing import running_milvus

    records, n = _records(work, CLUSTER_RECORDS)
    out: dict[str, Any] = {"records": n}
    with running_milvus(work / "milvus") as uri:
        runs: list[tuple[str, list[str]]] = [
            ("one process", []),
            ("two workers", ["--workers", "2"]),
        ]
        for k, (name, extra) in enumerate(runs):
            collection = f"w{k}"
            run_env = env | {
                "QA_VECTOR_STORE": "milvus",
                "QA_MILVUS_URI": uri,
                "QA_MILVUS_COLLECTION": collection,
                "QA_INDEX_DIR": str(work / f"milvus-{collection}"),
                "QA_INDEX_BATCH_CHARS": CLUSTER_BATCH_CHARS,
            }
            log(f"index: {n} records into Milvus, {name}")
            command = [sys.executable, "-m", "qa.cli", "add", str(records), *extra]
            seconds, peak, stdout = run_measured(command, run_env)
            passages = sum(int(p) for p in re.findall(r"\((\d+) passages\)", stdout))
            out[name] = {
                "seconds": round(seconds, 1),
                "passages": passages,
                "passages_per_s": round(passages / seconds, 1),
                "peak_rss_mb": round(peak),
            }
    return out


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
    if "cluster" in i:
        out += _cluster(i["cluster"])
    if "whole" in i:
        out += _whole(i["whole"])
    return out


def _whole(w: dict[str, Any]) -> list[str]:
    return [
        "### The whole corpus",
        "",
        f"`qa index` of all {w['records']} records of fakebr_news, end to end in one process "
        "(reading to the last commit, a batch of `QA_INDEX_BATCH_CHARS` at a time):",
        "",
        table(
            ["records", "passages", "sentences", "seconds", "passages/s", "peak RSS MB"],
            [
                [
                    w["records"],
                    w["passages"],
                    w["sentences"],
                    w["seconds"],
                    w["passages_per_s"],
                    w["peak_rss_mb"],
                ]
            ],
        ),
        "",
    ]


def _cluster(c: dict[str, Any]) -> list[str]:
    one = c["one process"]
    rows = [
        [
            name,
            r["passages"],
            r["seconds"],
            r["passages_per_s"],
            round(r["passages_per_s"] / one["passages_per_s"], 2),
        ]
        for name, r in ((k, c[k]) for k in ("one process", "two workers"))
    ]
    return [
        "### On Ray workers",
        "",
        f"The first {c['records']} records written into a Milvus server (Milvus Lite on "
        "loopback) by `qa add` in one process (the baseline), then by `qa add --workers 2` "
        "on a local Ray cluster of two workers on this same machine (each worker one model "
        "thread). Both write a document at a time, all or nothing; the second encoder's "
        "vectors are not kept in Milvus, so neither runs it. On two cores, two workers have "
        "no spare core to gain from: the figure is what the machinery costs (Ray's start, a "
        "model per worker); on a cluster each node adds its cores.",
        "",
        table(["run", "passages", "seconds", "passages/s", "× one process"], rows),
        "",
    ]


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
