"""Int8 matrix products with one activation scale per token, the same on every x86-64 CPU.

Each ``MatMul`` of the graph whose weights are a constant matrix, except the feed-forward
output projections of the first half of the layers (:func:`early_ffn_outputs`), becomes::

    scale  = max(|x|) over the token's channels / 63           (one scale per token)
    q      = round(x / scale) + 64                             (uint8, 1..127)
    y      = MatMulInteger(q, W_int8, zero_point=64) * scale * w_scale

with ``W_int8`` the weights rounded to int8 with one scale per output column.

Why these choices (measured in ``eval/BENCH.md``, "Int8 quantisation"):

* **One scale per token**, not one per batch (``quantize_dynamic``'s
  ``DynamicQuantizeLinear``): a text's vector no longer depends on the texts it is batched
  with, nor on their padding.
* **7-bit activations** (``|q - 64| <= 63``): on CPUs without AVX-512 VNNI, ONNX Runtime's
  uint8 x int8 kernel adds pairs of products in 16 bits with saturation
  (``vpmaddubsw``); with activations below 128 and weights within +-127 a pair stays below
  2 * 127 * 127 = 32,258 < 32,767, so the integer products are exact on every CPU and
  the quantisation costs the same fidelity on all of them. (8-bit activations saturate
  there: their error to float32 triples. Vectors still differ slightly between CPUs,
  since float rounding before a quantisation step can move a code by one.)
* **The early feed-forward output projections stay float32**: their input, a GELU
  output, has the widest range of any activation, and an early layer's error passes
  through every later one. With them in int8 the seed set's hybrid MRR@10 fell by 0.016;
  without, it matches float32's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnx

# Activations: uint8 codes 64 +- 63 (7 bits and a sign); weights: int8 +-127.
ACTIVATION_LEVELS = 63
ACTIVATION_ZERO = 64
WEIGHT_LEVELS = 127
_EPSILON = 1e-12  # a token of zeros gets a tiny scale instead of a division by zero


def quantize_weights(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``weights`` [in, out] as int8 codes and one float32 scale per output column."""
    scales = np.maximum(np.abs(weights).max(axis=0), _EPSILON) / WEIGHT_LEVELS
    codes = np.clip(np.round(weights / scales), -WEIGHT_LEVELS, WEIGHT_LEVELS)
    return codes.astype(np.int8), scales.astype(np.float32)


def early_ffn_outputs(graph: onnx.GraphProto) -> set[str]:
    """The feed-forward output projections (``MatMul`` fed by ``BiasGelu``) of the first
    half of the layers."""
    gelu_outputs = {out for node in graph.node if node.op_type == "BiasGelu" for out in node.output}
    ffn = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[0] in gelu_outputs]
    return set(ffn[: len(ffn) // 2])


def quantize_per_token(source: Path, target: Path) -> int:
    """Write ``source`` with its constant-weight ``MatMul`` nodes in per-token int8 (see
    the module docstring) to ``target``; returns how many were quantised. Products that
    share an input share its quantisation."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    kept_float = early_ffn_outputs(graph)
    initializers = {t.name: t for t in graph.initializer}
    constants: dict[str, np.ndarray] = {
        "qt_levels": np.array(ACTIVATION_LEVELS, np.float32),
        "qt_zero": np.array(ACTIVATION_ZERO, np.float32),
        "qt_zero_u8": np.array(ACTIVATION_ZERO, np.uint8),
        "qt_epsilon": np.array(_EPSILON, np.float32),
    }
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in constants.items())
    quantized: dict[str, tuple[str, str]] = {}  # input -> (its codes, its scales)
    converted: set[str] = set()  # weights already written as codes and scales
    nodes: list[onnx.NodeProto] = []
    count = 0
    for node in graph.node:
        weights = initializers.get(node.input[1]) if node.op_type == "MatMul" else None
        if weights is None or len(weights.dims) != 2 or node.name in kept_float:
            nodes.append(node)
            continue
        x, name = node.input[0], node.name or f"matmul{count}"
        if x not in quantized:
            nodes += _quantize_input(x, f"{name}_qt")
            quantized[x] = (f"{name}_qt_codes", f"{name}_qt_scale")
        codes, scale = quantized[x]
        if weights.name not in converted:
            w_codes, w_scales = quantize_weights(numpy_helper.to_array(weights).astype(np.float32))
            graph.initializer.remove(weights)
            graph.initializer.extend(
                [
                    numpy_helper.from_array(w_codes, f"{weights.name}_int8"),
                    numpy_helper.from_array(w_scales, f"{weights.name}_scale"),
                ]
            )
            converted.add(weights.name)
        nodes += [
            helper.make_node(
                "MatMulInteger",
                [codes, f"{weights.name}_int8", "qt_zero_u8"],
                [f"{name}_int32"],
                name=f"{name}_int8",
            ),
            helper.make_node("Cast", [f"{name}_int32"], [f"{name}_float"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{name}_float", f"{weights.name}_scale"], [f"{name}_w"]),
            helper.make_node("Mul", [f"{name}_w", scale], [node.output[0]]),
        ]
        count += 1
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save_model(model, str(target))
    return count


def _quantize_input(x: str, prefix: str) -> list[onnx.NodeProto]:
    """Nodes turning the float tensor ``x`` into ``<prefix>_codes`` (uint8, one scale per
    token) and ``<prefix>_scale`` (those scales)."""
    from onnx import TensorProto, helper

    p = prefix
    return [
        helper.make_node("Abs", [x], [f"{p}_abs"]),
        helper.make_node("ReduceMax", [f"{p}_abs"], [f"{p}_max"], axes=[-1], keepdims=1),
        helper.make_node("Max", [f"{p}_max", "qt_epsilon"], [f"{p}_range"]),
        helper.make_node("Div", [f"{p}_range", "qt_levels"], [f"{p}_scale"]),
        helper.make_node("Div", ["qt_levels", f"{p}_range"], [f"{p}_inverse"]),
        helper.make_node("Mul", [x, f"{p}_inverse"], [f"{p}_scaled"]),
        helper.make_node("Round", [f"{p}_scaled"], [f"{p}_rounded"]),
        helper.make_node("Add", [f"{p}_rounded", "qt_zero"], [f"{p}_shifted"]),
        helper.make_node("Cast", [f"{p}_shifted"], [f"{p}_codes"], to=TensorProto.UINT8),
    ]
