"""The ``stores`` section of the benchmarks (see :mod:`bench`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import load, log, median_ms, pct_ms, qa_command, seed_index, seed_questions, table
from bench.embed import fakebr_questions


def store_search_ms(index_dir: Path, store: str, queries: np.ndarray) -> dict[str, float]:
    """Median and p95 of one filtered-free vector search (passages, k=100, as the hybrid
    retriever asks) through the index's own vector store, in-process."""
    from qa.core.config import Settings
    from qa.service import QAService

    service = QAService.open(Settings(index_dir=index_dir, vector_store=store), writable=False)
    times = []
    with service.snapshot() as index:
        for q in queries[:5]:
            index.vectors.search(q, 100)
        for q in queries:
            t0 = time.perf_counter()
            index.vectors.search(q, 100)
            times.append(time.perf_counter() - t0)
    return {"median_ms": median_ms(times), "p95_ms": pct_ms(times, 95)}


def bench_stores(args: argparse.Namespace, work: Path, index_dir: Path | None) -> dict[str, Any]:
    """FAISS and Milvus Lite side by side: the same index (copied, then moved with
    `qa migrate --to milvus`: no re-embedding), the same questions over HTTP, and the
    vector search alone."""
    from qa.core.config import Settings
    from qa.embed import load_embedder
    from qa.testing import running_server

    collections = {"seed": seed_index(work, args.backend)}
    if index_dir is not None:
        collections["fakebr"] = index_dir
    questions = seed_questions()
    embedder = load_embedder(Settings(backend=args.backend))
    queries = embedder.encode_queries(fakebr_questions(args.ann_latency_queries))
    rows, search_rows, migrate_s = [], [], {}
    for name, source in collections.items():
        copies = {"faiss": work / f"stores-{name}-faiss", "milvus": work / f"stores-{name}-milvus"}
        for copy in copies.values():
            shutil.copytree(source, copy)
        log(f"stores: migrating {name} to milvus")
        t0 = time.perf_counter()
        qa_command(
            "migrate", "--to", "milvus", "--index-dir", str(copies["milvus"]), backend=args.backend
        )
        migrate_s[name] = round(time.perf_counter() - t0, 1)
        for store, folder in copies.items():
            with running_server(folder, QA_BACKEND=args.backend, QA_VECTOR_STORE=store) as (
                base,
                _,
            ):
                for clients in (1, 16):
                    log(f"stores: {name} on {store}, http clients={clients}")
                    row = asyncio.run(load(f"{base}/query", questions, clients, args.seconds))
                    rows.append(row | {"collection": name, "store": store})
            # after the server: Milvus Lite keeps its folder locked by the process opening it
            log(f"stores: {name} on {store}, vector search alone")
            search_rows.append(
                {"collection": name, "store": store} | store_search_ms(folder, store, queries)
            )
    for row in rows + search_rows:
        baseline = next(
            r
            for r in (rows if "requests" in row else search_rows)
            if r["store"] == "faiss"
            and r["collection"] == row["collection"]
            and r.get("clients") == row.get("clients")
        )
        row["median_x"] = round(row["median_ms"] / baseline["median_ms"], 2)
    return {
        "rows": rows,
        "search": search_rows,
        "migrate_s": migrate_s,
        "passages": {
            n: json.loads((p / "manifest.json").read_text())["counts"]["chunks"]
            for n, p in collections.items()
        },
        "seconds_per_run": args.seconds,
    }


def render(results: dict[str, Any]) -> list[str]:
    """The report's section for ``results["stores"]``."""
    out: list[str] = []
    st = results["stores"]
    out += [
        "## Vector stores: FAISS and Milvus Lite",
        "",
        "The same index on both stores (a copy moved with `qa migrate --to milvus`, no "
        "re-embedding; Milvus Lite, HNSW, in the serving process), "
        + ", ".join(f"{n}: {p} passages" for n, p in st["passages"].items())
        + ". Migration took "
        + ", ".join(f"{n} {s} s" for n, s in st["migrate_s"].items())
        + f". HTTP: `POST /query` (hybrid, top 5) for {st['seconds_per_run']} s per row, "
        "the seed questions in turn. Baseline of each ratio: FAISS, same collection and "
        "clients.",
        "",
        table(
            [
                "collection",
                "store",
                "clients",
                "requests",
                "errors",
                "median ms",
                "p95 ms",
                "p99 ms",
                "req/s",
                "median × faiss",
            ],
            [
                [
                    r["collection"],
                    r["store"],
                    r["clients"],
                    r["requests"],
                    r["errors"],
                    r["median_ms"],
                    r["p95_ms"],
                    r["p99_ms"],
                    r["per_s"],
                    r["median_x"],
                ]
                for r in st["rows"]
            ],
        ),
        "",
        "One passage search alone (k = 100, as each hybrid signal asks), in-process, "
        "fakebr questions:",
        "",
        table(
            ["collection", "store", "median ms", "p95 ms", "median × faiss"],
            [
                [r["collection"], r["store"], r["median_ms"], r["p95_ms"], r["median_x"]]
                for r in st["search"]
            ],
        ),
        "",
    ]
    return out
