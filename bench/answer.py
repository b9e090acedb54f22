"""The ``answer`` section of the benchmarks (see :mod:`bench`)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from bench.common import log, median_ms, pct_ms, seed_index, seed_questions, table


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

        def timed(label: str, answer: bool) -> None:
            log(f"answer: {label}")
            latencies, answered = [], 0
            for question in questions:
                t0 = time.perf_counter()
                r = client.post("/query", json={"question": question, "answer": answer})
                latencies.append(time.perf_counter() - t0)
                r.raise_for_status()
                answered += r.json()["answer"] is not None
            rows.append(
                {
                    "run": label,
                    "requests": len(latencies),
                    "answered": answered,
                    "median_ms": median_ms(latencies),
                    "p95_ms": pct_ms(latencies, 95),
                }
            )

        # An untimed pass caches the questions' own translations, so that every timed
        # pass finds them alike; the answers' translations are uncached on the first
        # pass with answers.
        for question in questions:
            client.post("/query", json={"question": question, "answer": False})
        timed("passages only", False)
        timed("with the answer, translations uncached", True)
        timed("with the answer, translations cached", True)
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
        f"{a['rows'][0]['requests']} seed questions in turn (POST /query, top_k 5, "
        "hybrid), after an untimed pass that caches the questions' own translations. "
        'Baseline: passages only (`"answer": false`). The first pass with answers '
        "translates every answer anew; the second finds them cached.",
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
