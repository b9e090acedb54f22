"""The ``replicas`` section of python -m bench: stateless replicas over one Milvus, beside the
index folder of the same collection.

For each size, the collection of the ``scale`` section (fakebr_news passages repeated
under new ids, random unit vectors in place of the model's, written through the product's
own write code) is written twice: into an index folder (FAISS) and into a Milvus Lite
server on loopback (the stand-in for a cluster; ``QA_MILVUS_MODE=replica``). Each is
served by ``qa serve`` and measured the same way: RSS once ready and after the queries,
``POST /query`` (default method, the question embedded for real) median and p95 over HTTP,
one client, after every question was asked once (the translator's cache, and a replica's
term counts: as a server that has been running a while); adding one article and deleting
it. With Milvus, a second replica runs beside the first, and the section measures how long
an article added through one takes to be returned by the other.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import FAKEBR, ROOT, load, log, rss_mb, seed_questions, table
from bench.scale import RandomVectors, article, build, corpus, documents, serve_and_measure

BUILD_BATCH = 2_000  # documents per write while building (each its own commit)


def build_replica(settings: Any, passages: int, corpus_path: Path, log: Any) -> dict[str, Any]:
    """A collection of at least ``passages`` passages in the Milvus ``settings`` name."""
    from qa.collection.milvus import new_collection
    from qa.embed import load_embedder

    real = load_embedder(settings)
    stand_in = RandomVectors(real.name, real.dim, real.backend)
    source = documents(corpus(corpus_path))
    started = time.perf_counter()
    collection = new_collection(settings, stand_in, [], "pt")  # type: ignore[arg-type]
    held = 0
    while held < passages:
        wanted = int((passages - held) / 2.1) + 1
        batch = [next(source) for _ in range(min(BUILD_BATCH, wanted))]
        held += sum(r.chunks for r in collection.upsert(batch))
        log(f"replicas: {held} passages written to Milvus ({time.perf_counter() - started:.0f} s)")
    catalog = collection.catalog
    return {
        "passages": catalog.count("passages"),
        "sentences": catalog.count("sentences"),
        "documents": catalog.count("documents"),
        "build_s": round(time.perf_counter() - started, 1),
    }


def seen_by_other(a: str, b: str, text: str, n: int = 3) -> float:
    """Median seconds from an article's add through replica ``a`` returning to the moment
    replica ``b`` returns it for a question about it."""
    waits = []
    for i in range(n):
        doc_id = f"replica-article-{i}"
        body = {"id": doc_id, "text": text.replace("escala", f"réplica {i}")}
        httpx.post(f"{a}/documents", json=body, timeout=600).raise_for_status()
        t0 = time.perf_counter()
        question = {"question": f"Atualização do relatório de réplica {i}", "top_k": 10}
        while True:
            r = httpx.post(f"{b}/query", json=question, timeout=60).json()
            if doc_id in {p["citation"]["doc_id"] for p in r["results"]}:
                break
            if time.perf_counter() - t0 > 30:
                raise RuntimeError(f"replica {b} never returned {doc_id}")
        waits.append(time.perf_counter() - t0)
        httpx.delete(f"{a}/documents/{doc_id}", timeout=600).raise_for_status()
    return round(statistics.median(waits), 3)


def serve_replicas(
    env: dict[str, str], work: Path, questions: list[str], seconds: float, text: str
) -> dict[str, Any]:
    from qa.testing import running_server

    started = time.perf_counter()
    with running_server(work / "replica-a", timeout=600, **env) as (a, pid):
        opened = time.perf_counter() - started
        rss, _ = rss_mb(pid)
        for question in questions:  # translations and term counts, as after a while
            httpx.post(f"{a}/query", json={"question": question}, timeout=600)
        queries = asyncio.run(load(f"{a}/query", questions, 1, seconds))
        rss_after, _ = rss_mb(pid)
        adds, deletes = [], []
        for i in range(3):
            body = {"id": f"scale-article-{i}", "text": text.replace("escala", f"escala {i}")}
            t0 = time.perf_counter()
            httpx.post(f"{a}/documents", json=body, timeout=600).raise_for_status()
            adds.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            httpx.delete(f"{a}/documents/scale-article-{i}", timeout=600).raise_for_status()
            deletes.append(time.perf_counter() - t0)
        with running_server(work / "replica-b", timeout=600, **env) as (b, _):
            visible = seen_by_other(a, b, text)
    return {
        "open_s": round(opened, 1),
        "rss_mb": round(rss),
        "rss_after_queries_mb": round(rss_after),
        "query": queries,
        "add_s": round(statistics.median(adds), 3),
        "delete_s": round(statistics.median(deletes), 3),
        "seen_by_other_s": visible,
    }


def bench_replicas(sizes: list[int], work: Path, seconds: float) -> dict[str, Any]:
    from qa.core.config import Settings
    from qa.testing import running_milvus

    questions = seed_questions()
    text = article(ROOT / "seeds")
    rows = []
    with running_milvus(work / "milvus-data") as uri:
        for size in sizes:
            prefix = f"bench_{size}"
            settings = Settings(vector_store="milvus", milvus_uri=uri, milvus_collection=prefix)
            log(f"replicas: writing {size} passages to Milvus")
            milvus = build_replica(settings, size, FAKEBR, log)
            env = {
                "QA_VECTOR_STORE": "milvus",
                "QA_MILVUS_URI": uri,
                "QA_MILVUS_COLLECTION": prefix,
            }
            milvus.update(serve_replicas(env, work, questions, seconds, text))
            log(f"replicas: milvus {milvus}")
            folder = work / f"replicas-faiss-{size}"
            faiss = build(folder, size, FAKEBR, log)
            faiss.update(serve_and_measure(folder, questions, seconds, text, len(questions)))
            log(f"replicas: faiss {faiss}")
            rows.append({"size": size, "milvus": milvus, "faiss": faiss})
    return {"rows": rows, "seconds": seconds}


def table_rows(result: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for r in result["rows"]:
        for store in ("faiss", "milvus"):
            m = r[store]
            rows.append(
                [
                    f"{store} ({'index folder' if store == 'faiss' else 'replica'})",
                    *(m[k] for k in ("passages", "sentences", "build_s", "open_s", "rss_mb")),
                    m["rss_after_queries_mb"],
                    m["query"]["median_ms"],
                    m["query"]["p95_ms"],
                    m["add_s"],
                    m["delete_s"],
                    m.get("seen_by_other_s", "—"),
                ]
            )
    return rows


def render(results: dict[str, Any]) -> list[str]:
    """The report's section for ``results["replicas"]``."""
    result = results["replicas"]
    rows = table_rows(result)
    ordered = sorted(result["rows"], key=lambda r: r["size"])
    growth = []
    if len(ordered) >= 2:
        small, large = ordered[0]["milvus"], ordered[-1]["milvus"]
        grown = large["rss_after_queries_mb"] - small["rss_after_queries_mb"]
        growth = [
            f"A replica's RSS at {large['passages']:,} passages is {grown:+d} MB from its RSS "
            f"at {small['passages']:,} (after the queries; target: within 150 MB).",
            "",
        ]
    return [
        "## Replicas: the collection in Milvus",
        "",
        "`python -m bench --only replicas` — the scale section's collections written "
        "into an index folder (FAISS) and into Milvus (a Milvus Lite server on loopback, "
        "standing in for a cluster; `QA_MILVUS_MODE=replica`: texts, offsets, metadata, "
        "vectors and the lexical signal all in Milvus), each served by `qa serve`: seconds "
        "to ready, RSS when ready and after the queries, `POST /query` (default method, one "
        f"client, {result['seconds']} s, after every question was asked once: the "
        "translator's cache and a replica's term counts warm), adding / deleting one "
        "article over HTTP (median of "
        "3, its embedding included), and for Milvus the seconds until a second replica "
        "returns an article added through the first.",
        "",
        table(
            [
                *("store", "passages", "sentences", "write s", "open s", "RSS MB"),
                *("RSS after queries MB", "query median ms", "query p95 ms", "add s"),
                *("delete s", "seen by the other replica s"),
            ],
            rows,
        ),
        "",
        *growth,
    ]
