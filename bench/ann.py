"""The ``ann`` section of the benchmarks (see :mod:`bench`)."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import CALIBRATION_MIN, PIRA, log, median_ms, table
from bench.embed import fakebr_questions


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


class Curve:
    """Recall and latency of index kinds over ``vectors``, against exact search: recall for
    each query set, latency over the first (in-domain) one."""

    def __init__(
        self,
        args: argparse.Namespace,
        vectors: np.ndarray,
        queries: dict[str, np.ndarray],
        label: str,
    ) -> None:
        from qa.vectors.faiss.index import make_index
        from qa.vectors.faiss.spec import AnnSpec

        self.args, self.vectors, self.queries, self.label = args, vectors, queries, label
        self.n = len(vectors)
        self.ids = np.arange(self.n, dtype=np.int64)
        self.latency_queries = next(iter(queries.values()))[: args.ann_latency_queries]
        exact = make_index(vectors.shape[1], AnnSpec(kind="flat"))
        t0 = time.perf_counter()
        exact.add_vectors(self.ids, vectors)
        flat_build = time.perf_counter() - t0
        # ground truth in one batched call per query set
        self.truth = {name: exact.faiss.search(q, 10)[1] for name, q in queries.items()}
        self.exact_ms = median_search_ms(exact, self.latency_queries)
        self.rows: list[dict[str, Any]] = [
            {
                "vectors": self.n,
                "data": label,
                "index": "flat (exact)",
                "param": "",
                "recall@10": dict.fromkeys(queries, 1.0),
                "median_ms": self.exact_ms,
                "speed_x": 1.0,
                "build_s": round(flat_build, 1),
                "memory_mb": round(vectors.nbytes / 2**20 + self.n * 8 / 2**20),
            }
        ]

    def row(self, index: str, param: str, vi: Any, build: float, memory: int) -> None:
        ms = median_search_ms(vi, self.latency_queries)
        self.rows.append(
            {
                "vectors": self.n,
                "data": self.label,
                "index": index,
                "param": param,
                "recall@10": {
                    k: recall_at_10(vi, q, self.truth[k]) for k, q in self.queries.items()
                },
                "median_ms": ms,
                "speed_x": round(self.exact_ms / ms, 1),
                "build_s": round(build, 1),
                "memory_mb": memory,
            }
        )

    def hnsw(self) -> None:
        from qa.vectors.base import HNSW_EF_CONSTRUCTION
        from qa.vectors.faiss.index import make_index
        from qa.vectors.faiss.spec import AnnSpec

        m, efs = self.args.hnsw_m, self.args.efs
        log(f"ann: {self.label} {self.n} vectors, hnsw M {m}")
        spec = AnnSpec(kind="hnsw", m=m, ef_search=efs[0], ef_construction=HNSW_EF_CONSTRUCTION)
        graph = make_index(self.vectors.shape[1], spec)
        t0 = time.perf_counter()
        graph.add_vectors(self.ids, self.vectors)
        build = time.perf_counter() - t0
        for ef in efs:
            graph.spec = AnnSpec(
                kind="hnsw", m=m, ef_search=ef, ef_construction=HNSW_EF_CONSTRUCTION
            )
            self.row(f"hnsw (M {m})", f"ef {ef}", graph, build, hnsw_memory_mb(graph))

    def codes(self, kind: str, label_kind: str, candidates: list[int]) -> None:
        from qa.vectors.faiss.index import make_index
        from qa.vectors.faiss.spec import AnnSpec

        log(f"ann: {self.label} {self.n} vectors, {kind}")
        codes = make_index(self.vectors.shape[1], AnnSpec(kind=kind, candidates=candidates[0]))
        t0 = time.perf_counter()
        codes.add_vectors(self.ids, self.vectors)
        build = time.perf_counter() - t0
        assert codes.codes is not None
        held = self.vectors.nbytes + self.n * 8 + codes.codes.ntotal * code_bytes(codes)
        for c in candidates:
            codes.spec = AnnSpec(kind=kind, candidates=c)
            self.row(label_kind, f"candidates {c}", codes, build, round(held / 2**20))

    def ivf(self) -> None:
        from qa.vectors.faiss.index import make_index, train_centroids
        from qa.vectors.faiss.spec import AnnSpec, default_nlist

        log(f"ann: {self.label} {self.n} vectors, ivf")
        t0 = time.perf_counter()
        centroids = train_centroids(self.vectors, default_nlist(self.n))
        nlist = len(centroids)
        index = make_index(
            self.vectors.shape[1],
            AnnSpec(kind="ivf", nlist=nlist, nprobe=1, trained_on=self.n),
            centroids,
        )
        index.add_vectors(self.ids, self.vectors)
        build = time.perf_counter() - t0
        memory = round((self.vectors.nbytes + centroids.nbytes + self.n * 8) / 2**20)
        for nprobe in self.args.nprobes:
            index.spec = AnnSpec(kind="ivf", nlist=nlist, nprobe=nprobe, trained_on=self.n)
            self.row(f"ivf (nlist {nlist})", f"nprobe {nprobe}", index, build, memory)


def ann_curve(
    args: argparse.Namespace,
    vectors: np.ndarray,
    queries: dict[str, np.ndarray],
    label: str,
    ivf: bool = True,
) -> list[dict[str, Any]]:
    """Exact, hnsw at each ``--efs``, the code scans at their candidates, and ivf at each
    ``--nprobes`` over ``vectors`` (see :class:`Curve`)."""
    curve = Curve(args, vectors, queries, label)
    curve.hnsw()
    for kind, label_kind, candidates in (
        ("pq", "pq (4 bit)", args.pq_candidates),
        ("rabitq", "rabitq (1 bit)", args.candidates),
    ):
        if candidates:
            curve.codes(kind, label_kind, candidates)
    if ivf and args.nprobes:
        curve.ivf()
    return curve.rows


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


HEADERS = [
    *("vectors", "data", "index", "parameter", "recall@10 fakebr q", "recall@10 pira q"),
    *("median ms", "× exact", "build s", "memory MB"),
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


def render(results: dict[str, Any]) -> list[str]:
    """The report's section for ``results["ann"]``."""
    out: list[str] = []
    a = results["ann"]
    headers = HEADERS
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
    return out
