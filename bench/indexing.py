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
    return {
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
    return out
