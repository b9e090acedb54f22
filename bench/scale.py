"""The ``scale`` section of python -m bench: one machine at 10k to a million passages.

For each size, a collection of that many passages is written through the product's own
store code (``FolderCollection.create``, then adds): real passage texts — fakebr_news, repeated
with distinct ids — chunked, split into sentences and indexed for BM25 for real, with
random unit vectors standing in for the model's (embedding a million passages would take
days here; no search or write reads the other documents' vectors by their meaning). Then
``qa serve`` opens it in a child process and the section measures: seconds from start to
ready (model load included) and RSS once ready; ``POST /query`` (default method, the
question embedded for real) median and p95 over HTTP, one client; adding one article
over HTTP (embedded for real) and deleting it.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import FAKEBR, ROOT, load, log, rss_mb, rss_parts_mb, seed_questions, table

# Documents per write while building (each write is a segment).
BUILD_BATCH = 50_000


class RandomVectors:
    """Stands in for the model while a large collection is written (see the docstring)."""

    def __init__(self, name: str, dim: int, backend: str) -> None:
        self.name, self.dim, self.backend = name, dim, backend
        self.rng = np.random.default_rng(0)

    def encode_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        v = self.rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def corpus(path: Path) -> list[tuple[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [(row["id"], row["text"]) for row in map(json.loads, f)]


def documents(rows: list[tuple[str, str]]) -> Iterator[Any]:
    """The corpus's articles again and again, each round under new ids."""
    from qa.ingest import make_text_document

    round_ = 0
    while True:
        for doc_id, text in rows:
            yield make_text_document(f"r{round_}/{doc_id}", text, "fakebr_news")
        round_ += 1


def build(folder: Path, passages: int, corpus_path: Path, log: Any) -> dict[str, Any]:
    """A collection of at least ``passages`` passages in ``folder``."""
    from qa.collection import FolderCollection
    from qa.core.config import Settings
    from qa.embed import load_embedder
    from qa.store import Chunking
    from qa.vectors import make_backend

    settings = Settings(index_dir=folder)
    real = load_embedder(settings)
    stand_in = RandomVectors(real.name, real.dim, real.backend)
    chunking = Chunking(size=settings.chunk_size, overlap=settings.chunk_overlap)
    source = documents(corpus(corpus_path))
    started = time.perf_counter()
    collection = None
    held = 0
    while held < passages:
        # about 2.1 passages an article: ask for what is missing, in batches
        wanted = int((passages - held) / 2.1) + 1
        batch = [next(source) for _ in range(min(BUILD_BATCH, wanted))]
        if collection is None:
            collection = FolderCollection.create(
                folder, make_backend(settings), stand_in, batch, chunking
            )
        else:
            collection.upsert(batch)
        held = collection.index.manifest.counts.chunks
        log(f"scale: {held} passages written ({time.perf_counter() - started:.0f} s)")
    assert collection is not None
    counts = collection.index.manifest.counts
    return {
        "passages": counts.chunks,
        "sentences": counts.sentences,
        "documents": counts.documents,
        "build_s": round(time.perf_counter() - started, 1),
    }


def article(seed: Path) -> str:
    text = next(p for p in sorted(seed.iterdir()) if p.suffix == ".txt").read_text("utf-8")
    return text.replace("\n\n", "\n\nAtualização do relatório de escala.\n\n", 1)


def serve_and_measure(
    folder: Path, questions: list[str], seconds: float, text: str, warm: int = 5
) -> dict[str, Any]:
    import httpx

    from qa.testing import running_server

    started = time.perf_counter()
    with running_server(folder, timeout=1800, QA_FOLLOW_INTERVAL="0") as (url, pid):
        opened = time.perf_counter() - started
        rss, _ = rss_mb(pid)
        parts = rss_parts_mb(pid)
        for question in questions[:warm]:  # the translator's cache, like a warmed server
            httpx.post(f"{url}/query", json={"question": question}, timeout=60)
        queries = asyncio.run(load(f"{url}/query", questions, 1, seconds))
        rss_after, peak = rss_mb(pid)
        parts_after = rss_parts_mb(pid)
        adds, deletes = [], []
        for i in range(3):
            body = {"id": f"scale-article-{i}", "text": text.replace("escala", f"escala {i}")}
            t0 = time.perf_counter()
            added = httpx.post(f"{url}/documents", json=body, timeout=600)
            adds.append(time.perf_counter() - t0)
            added.raise_for_status()
            t0 = time.perf_counter()
            httpx.delete(f"{url}/documents/scale-article-{i}", timeout=600).raise_for_status()
            deletes.append(time.perf_counter() - t0)
    return {
        "open_s": round(opened, 1),
        "rss_mb": round(rss),
        "rss_after_queries_mb": round(rss_after),
        "rss_parts": parts,
        "rss_parts_after_queries": parts_after,
        "peak_mb": round(peak),
        "query": queries,
        "add_s": round(statistics.median(adds), 3),
        "delete_s": round(statistics.median(deletes), 3),
    }


def bench_scale(sizes: list[int], work: Path, seconds: float) -> dict[str, Any]:
    root = ROOT
    questions = seed_questions()
    text = article(root / "seeds")
    rows = []
    for size in sizes:
        folder = work / f"scale-{size}"
        log(f"scale: writing {size} passages")
        row = build(folder, size, FAKEBR, log)
        log(f"scale: serving {row['passages']} passages")
        row.update(serve_and_measure(folder, questions, seconds, text))
        row["size"] = size
        rows.append(row)
        log(f"scale: {row}")
    return {"rows": rows, "seconds": seconds}


def render(results: dict[str, Any]) -> list[str]:
    """The report's section for ``results["scale"]``."""
    result = results["scale"]
    rows = [
        [
            r["passages"],
            r["sentences"],
            r["build_s"],
            r["open_s"],
            r["rss_mb"],
            r.get("rss_parts", {}).get("anon_mb", "—"),
            r["rss_after_queries_mb"],
            r["query"]["median_ms"],
            r["query"]["p95_ms"],
            r["add_s"],
            r["delete_s"],
        ]
        for r in result["rows"]
    ]
    return [
        "## Scale: one machine",
        "",
        "`python -m bench --only scale` — collections written through the store code "
        "(real fakebr_news passages repeated under new ids; random unit vectors in place of "
        "the model's), then served by `qa serve`: seconds from start to ready (model load "
        "included), RSS when ready (and of it, the process's own anonymous memory: the rest "
        "is mapped files, the model's weights and libraries) and after the queries, "
        f"`POST /query` (default method, one client, {result['seconds']} s) and adding / "
        "deleting one article over HTTP (median of 3, the article's embedding included: the "
        "same at every size, so what grows with the collection is the write's own cost). "
        "Targets at 1M passages: RSS ≤ 4 GB, open ≤ 60 s, query median ≤ 30 ms and p95 ≤ 80 "
        "ms, add or delete ≤ 1 s beyond the embedding.",
        "",
        table(
            [
                "passages",
                "sentences",
                "write s",
                "open s",
                "RSS MB",
                "of it anonymous MB",
                "RSS after queries MB",
                "query median ms",
                "query p95 ms",
                "add s",
                "delete s",
            ],
            rows,
        ),
        "",
        *_growth(result["rows"]),
    ]


def _growth(rows: list[dict[str, Any]]) -> list[str]:
    """RSS per passage between the two largest sizes, and what it makes at a million."""
    if len(rows) < 2:
        return []
    a, b = sorted(rows, key=lambda r: r["passages"])[-2:]
    per = (b["rss_mb"] - a["rss_mb"]) / (b["passages"] - a["passages"]) * 1024
    at_million = (b["rss_mb"] + per * (1_000_000 - b["passages"]) / 1024) / 1024
    where = "measured" if b["passages"] >= 1_000_000 else "about"
    return [
        f"RSS grows by {per:.1f} KB a passage between the two largest sizes "
        f"({(b['sentences'] / b['passages']):.1f} sentences each): {where} {at_million:.1f} GB "
        "at a million passages.",
        "",
    ]
