"""The ``limits`` section of the benchmarks (see :mod:`bench`)."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path
from typing import Any

from bench.common import load, log, median_ms, pct_ms, seed_index, seed_questions, table


async def paced(url: str, questions: list[str], seconds: float) -> list[float]:
    """Client B: 4 questions a second; the seconds each took."""
    import httpx

    took: list[float] = []
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=60) as c:
        i = 0
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            r = await c.post(
                url,
                json={"question": questions[i % len(questions)]},
                headers={"Authorization": "Bearer key-b"},
            )
            took.append(time.perf_counter() - t0)
            r.raise_for_status()
            i += 1
            await asyncio.sleep(max(0.0, 0.25 - (time.perf_counter() - t0)))
    return took


def greedy(url: str, key: str, questions: list[str], seconds: float, statuses: Any) -> None:
    """Client A, in a process of its own at the lowest CPU priority (standing in for a
    client on another machine: on this 2-core one its own work would otherwise be taken
    from the server's): 8 requests in flight, Retry-After ignored."""
    import httpx

    os.nice(19)
    counts: dict[int, int] = {}

    async def run() -> None:
        deadline = time.perf_counter() + seconds
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=8)) as c:

            async def one(k: int) -> None:
                i = k
                while time.perf_counter() < deadline:
                    r = await c.post(
                        url,
                        json={"question": questions[i % len(questions)]},
                        headers={"Authorization": f"Bearer {key}"},
                    )
                    counts[r.status_code] = counts.get(r.status_code, 0) + 1
                    i += 8

            await asyncio.gather(*(one(k) for k in range(8)))

    asyncio.run(run())
    statuses.put(counts)


def paced_and_greedy(
    url: str, questions: list[str], seconds: float, greedy_key: str | None
) -> dict[str, Any]:
    """Client B (this process) beside a greedy client with ``greedy_key`` (another
    process; ``None``: B alone), for ``seconds``."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    statuses = context.Queue()
    other = context.Process(target=greedy, args=(url, greedy_key, questions, seconds + 1, statuses))
    with_greedy = greedy_key is not None
    if with_greedy:
        other.start()
        time.sleep(1.0)  # A is under way before B starts
    took = asyncio.run(paced(url, questions, seconds))
    counts = statuses.get(timeout=120) if with_greedy else {}
    if with_greedy:
        other.join()
    return {
        "paced_requests": len(took),
        "paced_median_ms": median_ms(took),
        "paced_p95_ms": pct_ms(took, 95),
        "greedy_statuses": {str(k): v for k, v in sorted(counts.items())},
    }


def bench_limits(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from qa.testing import running_server

    index_dir = seed_index(work, args.backend)
    questions = seed_questions()
    # One server, its caches warmed by the soak: key-a has a low limit of its own, key-b
    # (the paced client) and key-c (the same greedy client, unlimited: the baseline) none.
    env = {
        "QA_READ_KEYS": "key-a,key-b,key-c",
        "QA_KEY_RATE_LIMITS": "key-a=5/second",
        "QA_BACKEND": args.backend,
    }
    seconds = 30
    with running_server(index_dir, **env) as (base, _):
        log(f"limits: 16 clients for {args.soak} s")
        soak = asyncio.run(load(f"{base}/query", questions, 16, args.soak, key="key-b"))
        log("limits: the paced client alone")
        alone = paced_and_greedy(f"{base}/query", questions, seconds, None)
        log("limits: paced and greedy, the greedy key unlimited")
        free = paced_and_greedy(f"{base}/query", questions, seconds, "key-c")
        log("limits: paced and greedy, the greedy key limited to 5/second")
        limited = paced_and_greedy(f"{base}/query", questions, seconds, "key-a")
    return {
        "soak": soak,
        "paced_seconds": seconds,
        "alone": alone,
        "free": free,
        "limited": limited,
        "seconds": args.soak,
    }


def render(results: dict[str, Any]) -> list[str]:
    """The report's section for ``results["limits"]``."""
    out: list[str] = []
    lim = results["limits"]
    soak, free, limited = lim["soak"], lim["free"], lim["limited"]
    change = limited["paced_p95_ms"] / free["paced_p95_ms"] - 1 if free["paced_p95_ms"] else 0
    out += [
        "## Under load, and rate limits",
        "",
        f"`qa serve` on the seed index with keys. 16 closed-loop clients for {lim['seconds']} "
        f"s: {soak['requests']} requests, **{soak['errors']} failures**, median "
        f"{soak['median_ms']} ms, p95 {soak['p95_ms']} ms, {soak['per_s']} requests/s.",
        "",
        f"Then, on the same server, for {lim.get('paced_seconds', 20)} s each: a paced "
        "client (key B, 4 questions a second) alone; beside a greedy one (8 requests in "
        "flight, `Retry-After` ignored; its own process at the lowest CPU priority, "
        "standing in for a client on another machine) whose key has no limit (key C: the "
        "baseline); and beside the same greedy client with key A, which has a low limit "
        "of its own (`QA_KEY_RATE_LIMITS=key-a=5/second`). Refusals are answered before "
        "routing, after `QA_RATE_LIMIT_PAUSE` (1 s), so a client that retries at once gets a "
        "few a second per connection:",
        "",
        table(
            ["run", "B requests", "B median ms", "B p95 ms", "greedy client's answers"],
            [
                [
                    name,
                    r["paced_requests"],
                    r["paced_median_ms"],
                    r["paced_p95_ms"],
                    ", ".join(f"{k}: {v}" for k, v in r["greedy_statuses"].items()),
                ]
                for name, r in (
                    ("B alone", lim.get("alone")),
                    ("B and the greedy client, unlimited (key C)", free),
                    ("B and the greedy client, limited to 5/second (key A)", limited),
                )
                if r is not None
            ],
        ),
        "",
        f"B's p95 beside the limited key: {change:+.0%} against the baseline (target: at "
        "most +20%).",
        "",
    ]
    return out
