"""The ``http`` section of the benchmarks (see :mod:`bench`)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from bench.common import load, log, rss_mb, seed_index, seed_questions, table


def bench_http(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from qa.testing import running_server

    index_dir = seed_index(work, args.backend)
    questions = seed_questions()
    runs = []
    for backend, batching in (
        ("torch", "off"),
        ("torch", "on"),
        ("onnx-int8", "off"),
        ("onnx-int8", "on"),
    ):
        with running_server(index_dir, QA_BACKEND=backend, QA_QUERY_BATCHING=batching) as (
            base,
            pid,
        ):
            idle_rss, _ = rss_mb(pid)
            for clients in (1, 4, 16):
                log(f"http: backend={backend} batching={batching} clients={clients}")
                row = asyncio.run(load(f"{base}/query", questions, clients, args.seconds))
                row |= {"backend": backend, "batching": batching}
                runs.append(row)
            rss, peak = rss_mb(pid)
        runs[-1] |= {
            "server_idle_rss_mb": round(idle_rss),
            "server_rss_mb": round(rss),
            "server_peak_rss_mb": round(peak),
        }
    baseline = next(
        r for r in runs if (r["backend"], r["batching"], r["clients"]) == ("torch", "off", 1)
    )
    for row in runs:
        row["throughput_x"] = round(row["per_s"] / baseline["per_s"], 2)
    return {"rows": runs, "questions": len(questions), "seconds_per_run": args.seconds}


def render(results: dict[str, Any]) -> list[str]:
    """The report's section for ``results["http"]``."""
    out: list[str] = []
    h = results["http"]
    out += [
        "## Queries over HTTP",
        "",
        f"`qa serve` on the seed index; closed-loop clients on loopback (each sends POST "
        f"/query, top_k 5, hybrid, waits for the answer, sends the next), "
        f"{h['seconds_per_run']} s per run, cycling through the {h['questions']} seed "
        "questions. Baseline (× base): PyTorch, micro-batching off, 1 client.",
        "",
        table(
            [
                "backend",
                "micro-batching",
                "clients",
                "requests",
                "errors",
                "median ms",
                "p95 ms",
                "p99 ms",
                "requests/s",
                "× base",
            ],
            [
                [
                    r["backend"],
                    r["batching"],
                    r["clients"],
                    r["requests"],
                    r["errors"],
                    r["median_ms"],
                    r["p95_ms"],
                    r["p99_ms"],
                    r["per_s"],
                    r["throughput_x"],
                ]
                for r in h["rows"]
            ],
        ),
        "",
        "Server memory, RSS after start / after the runs / peak, MB: "
        + "; ".join(
            f"{r['backend']} batching {r['batching']}: {r['server_idle_rss_mb']} / "
            f"{r['server_rss_mb']} / {r['server_peak_rss_mb']}"
            for r in h["rows"]
            if "server_rss_mb" in r
        )
        + ".",
        "",
    ]
    return out
