"""The ``answer`` section of the benchmarks (see :mod:`bench`)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from bench.common import log, median_ms, pct_ms, seed_index, seed_questions, table

ROUNDS = 3  # passes of the seed questions for the runs that can be repeated
PASSAGES = "passages only"
CACHED = "with the answer, translations cached"


def bench_answer(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import httpx

    from qa.testing import running_server

    index_dir = seed_index(work, args.backend)
    questions = seed_questions()
    rows = []
    with (
        running_server(index_dir, QA_BACKEND=args.backend) as (base, _),
        httpx.Client(base_url=base, timeout=60) as client,
    ):

        def timed(answer: bool, into: dict[str, Any]) -> None:
            for question in questions:
                t0 = time.perf_counter()
                r = client.post("/query", json={"question": question, "answer": answer})
                into["latencies"].append(time.perf_counter() - t0)
                r.raise_for_status()
                into["answered"] += r.json()["answer"] is not None

        # An untimed pass caches the questions' own translations, so that every timed
        # pass finds them alike; the answers' translations are uncached on the first
        # pass with answers only. The passes that can be repeated are, in turns.
        for question in questions:
            client.post("/query", json={"question": question, "answer": False})
        runs: dict[str, dict[str, Any]] = {
            label: {"latencies": [], "answered": 0}
            for label in (PASSAGES, "with the answer, translations uncached", CACHED)
        }
        log("answer: the first pass with answers")
        timed(False, runs[PASSAGES])
        timed(True, runs["with the answer, translations uncached"])
        for n in range(1, ROUNDS):
            log(f"answer: round {n + 1} of {ROUNDS}")
            timed(True, runs[CACHED])
            timed(False, runs[PASSAGES])
        timed(True, runs[CACHED])
        for label, run in runs.items():
            latencies = run["latencies"]
            rows.append(
                {
                    "run": label,
                    "requests": len(latencies),
                    "answered": run["answered"],
                    "median_ms": median_ms(latencies),
                    "p95_ms": pct_ms(latencies, 95),
                }
            )
    base_ms = rows[0]["median_ms"]
    for row in rows:
        row["x_base"] = round(row["median_ms"] / base_ms, 2)
    return {"rows": rows, "backend": args.backend}


def render(results: dict[str, Any]) -> list[str]:
    """The report's section for ``results["answer"]``."""
    out: list[str] = []
    a = results["answer"]
    out += [
        "## The answer stage",
        "",
        f"`qa serve` ({a['backend']}) on the seed index; one client sends each of the "
        f"{a['rows'][1]['requests']} seed questions in turn (POST /query, top_k 5, "
        "hybrid), after an untimed pass that caches the questions' own translations. "
        'Baseline: passages only (`"answer": false`). The first pass with answers '
        f"translates every answer anew; the {ROUNDS} passes after it, in turns with "
        "passages only, find them cached.",
        "",
        table(
            ["run", "requests", "answered", "median ms", "p95 ms", "× base"],
            [
                [
                    r["run"],
                    r["requests"],
                    r["answered"],
                    r["median_ms"],
                    r["p95_ms"],
                    r["x_base"],
                ]
                for r in a["rows"]
            ],
        ),
        "",
    ]
    return out
