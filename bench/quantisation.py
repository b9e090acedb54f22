"""The ``quantisation`` section: the int8 graph the service runs (one activation scale per
token, 7-bit activations: :mod:`qa.embed.export.quantization`) beside the one it replaced
(ONNX Runtime's ``quantize_dynamic``: one activation scale per batch, 8-bit) and float32.

For each: passages per second and one question's latency; fidelity (1 - cosine to the
float32 vectors of the same passages, mean and 99th percentile); how far a passage's vector
moves when it is embedded alone instead of in its batch; pira_xling's dense MRR@10. With
``--emulate CPU`` (needs Debian's ``qemu-user``), the fidelity of each int8 graph is also
measured on an emulated CPU of that model (e.g. ``EPYC-Rome``: AVX2 without AVX-512 or
VNNI), where ONNX Runtime's int8 kernels add products in 16 bits with saturation.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import log, median_ms, table
from bench.embed import fakebr_passages, pira_dense_mrr

ROUNDS = 3
PROBE_TEXTS = 12  # passages of the emulated probe (an emulated CPU runs ~200x slower)


def per_batch_graph(model_folder: Path, target: Path) -> Path:
    """The int8 graph as it was exported before (``quantize_dynamic``: one activation scale
    per batch, 8-bit, per-channel weights; fused ``QAttention``; the early feed-forward
    output projections in float32), in an export folder of its own."""
    import onnx
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from qa.embed.export.onnx_export import _trace, fuse, half_word_embeddings, save_weights_beside
    from qa.embed.export.quantization import early_ffn_outputs
    from qa.embed.export.smoothing import smooth

    target.mkdir(parents=True, exist_ok=True)
    config = _trace(model_folder, "mean", target / "traced.onnx")
    fuse(target / "traced.onnx", target / "fused.onnx", config)
    smooth(target / "fused.onnx", target / "smoothed.onnx", model_folder / "tokenizer.json")
    fused = onnx.load(str(target / "fused.onnx"), load_external_data=False).graph
    quantize_dynamic(
        str(target / "smoothed.onnx"),
        str(target / "int8.onnx"),
        op_types_to_quantize=["MatMul", "Attention"],
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_exclude=sorted(early_ffn_outputs(fused)),
        extra_options={"DefaultTensorType": TensorProto.FLOAT},
    )
    model = onnx.load(str(target / "int8.onnx"))
    half_word_embeddings(model)
    save_weights_beside(model, target / "model-int8.onnx")
    for name in ("traced.onnx", "fused.onnx", "smoothed.onnx", "int8.onnx"):
        (target / name).unlink()
    shutil.copy(model_folder / "tokenizer.json", target / "tokenizer.json")
    info = {"source": model_folder.name, "pooling": "mean", "max_length": 512}
    (target / "export.json").write_text(json.dumps(info), encoding="utf-8")
    return target


def measure(embedder: Any, passages: list[str], reference: np.ndarray, mrr: bool) -> dict:
    embedder.encode_passages(passages[:8])
    seconds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        vectors = embedder.encode_passages(passages)
        seconds.append(time.perf_counter() - started)
    latencies = []
    for _ in range(30):
        started = time.perf_counter()
        embedder.encode_queries(["O que Jensen Huang disse sobre os investidores?"])
        latencies.append(time.perf_counter() - started)
    error = 1 - (vectors * reference).sum(axis=1)
    alone = np.vstack([embedder.encode_passages([p]) for p in passages[:32]])
    moved = 1 - (alone * vectors[:32]).sum(axis=1)
    return {
        "passages_per_s": round(len(passages) / statistics.median(seconds), 1),
        "query_ms": median_ms(latencies),
        "error_mean": float(error.mean()),
        "error_p99": float(np.quantile(error, 0.99)),
        "batch_moved_max": float(moved.max()),
        "pira_dense_mrr10": (
            pira_dense_mrr(embedder.encode_passages, lambda t: embedder.encode_queries([t])[0])
            if mrr
            else None
        ),
    }


def emulated_error(cpu: str, folder: Path, passages: list[str], reference: np.ndarray) -> float:
    """Mean 1 - cosine to float32 of the int8 graph in ``folder`` on an emulated ``cpu``."""
    probe = (
        "import sys, json, numpy as np\n"
        "from pathlib import Path\n"
        "from qa.embed.onnx import OnnxEmbedder\n"
        "e = OnnxEmbedder(Path(sys.argv[1]), 'onnx-int8', 'x', 'query: ', 'passage: ', 32, 1)\n"
        "texts = json.loads(sys.stdin.read())\n"
        "np.save(sys.argv[2], e.encode_passages(texts))\n"
    )
    out = folder / "emulated.npy"
    subprocess.run(
        ["qemu-x86_64", "-cpu", cpu, sys.executable, "-c", probe, str(folder), str(out)],
        input=json.dumps(passages[:PROBE_TEXTS]),
        text=True,
        check=True,
        capture_output=True,
    )
    vectors = np.load(out)
    return float((1 - (vectors * reference[:PROBE_TEXTS]).sum(axis=1)).mean())


def bench_quantisation(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from qa.core.config import Settings
    from qa.embed import load_embedder, resolve_model_path
    from qa.embed.export.onnx_export import ensure_exported
    from qa.embed.onnx import OnnxEmbedder

    settings = Settings()
    model_folder = Path(resolve_model_path(settings))
    default = ensure_exported(model_folder, settings.model_cache)
    log("quantisation: exporting the per-batch int8 graph")
    older = per_batch_graph(model_folder, work / "per-batch")
    engines = {
        "float32 (onnx)": load_embedder(settings.model_copy(update={"backend": "onnx"})),
        "int8, one scale per token (the default)": load_embedder(settings),
        "int8, one scale per batch (before)": OnnxEmbedder(
            older, "onnx-int8", settings.model, "query: ", "passage: ", settings.batch_size, None
        ),
    }
    folders = {
        "int8, one scale per token (the default)": default,
        "int8, one scale per batch (before)": older,
    }
    passages = fakebr_passages(args.embed_passages)
    reference = engines["float32 (onnx)"].encode_passages(passages)
    rows = []
    for name, embedder in engines.items():
        log(f"quantisation: {name}")
        row = {"graph": name, **measure(embedder, passages, reference, not args.no_mrr)}
        if args.emulate and name in folders:
            log(f"quantisation: {name} on an emulated {args.emulate}")
            row["emulated_error_mean"] = emulated_error(
                args.emulate, folders[name], passages, reference
            )
        rows.append(row)
    base = rows[0]
    for row in rows:
        row["throughput_x"] = round(row["passages_per_s"] / base["passages_per_s"], 2)
        if row["pira_dense_mrr10"] is not None and base["pira_dense_mrr10"] is not None:
            row["mrr_delta"] = round(row["pira_dense_mrr10"] - base["pira_dense_mrr10"], 4)
    return {"passages": len(passages), "emulated": args.emulate, "rows": rows}


def render(results: dict[str, Any]) -> list[str]:
    """The report's section for ``results["quantisation"]``."""
    q = results["quantisation"]
    emulated = q.get("emulated")
    headers = [
        *("graph", "passages/s", "× float32", "one question ms", "1 − cos mean", "1 − cos p99"),
        *("moved by its batch (max)", "pira dense MRR@10", "Δ MRR"),
    ]
    if emulated:
        headers.append(f"1 − cos mean on an emulated {emulated}")
    rows = [
        [
            r["graph"],
            r["passages_per_s"],
            r["throughput_x"],
            r["query_ms"],
            f"{r['error_mean']:.5f}",
            f"{r['error_p99']:.5f}",
            f"{r['batch_moved_max']:.6f}",
            r["pira_dense_mrr10"],
            r.get("mrr_delta", ""),
            *(
                [f"{r['emulated_error_mean']:.5f}" if "emulated_error_mean" in r else "—"]
                if emulated
                else []
            ),
        ]
        for r in q["rows"]
    ]
    return [
        "## Int8 quantisation",
        "",
        f"{q['passages']} fakebr_news passages, batches of 32, timed {ROUNDS} times each "
        "(median); 1 − cosine to the float32 vectors of the same passages; how far a "
        "passage's vector moves (1 − cosine) when embedded alone instead of in its batch "
        "(32 passages); dense MRR@10 on pira_xling. Baseline: float32. The int8 graph "
        "of the service quantises each token with a scale of its own and 7-bit "
        "activations, so no batch-mate moves a vector and ONNX Runtime's 16-bit pair sums "
        "cannot saturate on CPUs without VNNI (qa/embed/export/quantization.py)."
        + (
            f" The last column: the same graphs on an emulated {emulated} CPU "
            f"({PROBE_TEXTS} passages; `--emulate {emulated}`)."
            if emulated
            else ""
        ),
        "",
        table(headers, rows),
        "",
    ]
