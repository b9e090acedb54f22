"""SmoothQuant for the int8 export (Xiao et al., 2023).

The inputs of each layer's attention and feed-forward input projection carry a few
outlier channels, an order of magnitude larger than the rest whatever the text: one int8
scale per token fits them badly. Smoothing divides those channels down and multiplies the
matching weight rows up, so the product is unchanged in exact arithmetic while the
activations become easier to quantise. The ranges are measured once, on bundled
calibration texts (:mod:`qa.embed.export.calibration`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.embed.onnx import model_inputs

if TYPE_CHECKING:
    import onnx


# SmoothQuant's migration strength: the share of an input channel's range moved into the
# weights. Measured with per-token int8 (256 fakebr passages, 1 - cosine to float32,
# mean): none 0.00106, 0.5 0.00061, 0.7 0.00060, 0.85 0.00069.
SMOOTH_ALPHA = 0.7


def smoothing_targets(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """The weight-bearing nodes fed by a layer norm: each layer's query, key and value
    projections (or the ``Attention`` that holds them) and feed-forward input ``MatMul``.
    Their inputs carry the outlier channels. (The feed-forward output projections, fed by
    GELU, get worse when smoothed: their error grows fivefold.)"""
    weights = {t.name for t in graph.initializer}
    norms = {
        out
        for node in graph.node
        if node.op_type in ("LayerNormalization", "SkipLayerNormalization")
        for out in node.output[:1]
    }
    return [
        node
        for node in graph.node
        if node.op_type in ("Attention", "MatMul")
        and node.input[0] in norms
        and node.input[1] in weights
    ]


def activation_ranges(
    model: onnx.ModelProto, names: Sequence[str], tokenizer_file: Path
) -> dict[str, np.ndarray]:
    """Largest absolute value of each channel of the tensors ``names`` of ``model``, over
    the calibration texts as passages and as questions (padding excluded). ``model`` is
    left as it was."""
    import onnxruntime as ort
    from onnx import TensorProto, helper
    from tokenizers import Tokenizer

    from qa.embed.export.calibration import CALIBRATION_TEXTS

    outputs = len(model.graph.output)
    for name in names:
        model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    try:
        serialized = model.SerializeToString()
    finally:
        del model.graph.output[outputs:]
    session = ort.InferenceSession(serialized, providers=["CPUExecutionProvider"])
    del serialized
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.enable_truncation(512)
    pad = tokenizer.token_to_id("<pad>") or 0
    texts = [f"{prefix}{t}" for prefix in ("passage: ", "query: ") for t in CALIBRATION_TEXTS]
    ranges: dict[str, np.ndarray] = {}
    for first in range(0, len(texts), 8):
        encodings = tokenizer.encode_batch(texts[first : first + 8])
        feeds = model_inputs([e.ids for e in encodings], pad)
        outputs = session.run(list(names), feeds)
        for name, values in zip(names, outputs, strict=True):
            top = np.abs(values[feeds["attention_mask"].astype(bool)]).max(axis=0)
            ranges[name] = np.maximum(ranges[name], top) if name in ranges else top
    return ranges


def smooth(source: Path, target: Path, tokenizer_file: Path) -> None:
    """SmoothQuant (Xiao et al., 2023) on the float graph at ``source``, written to
    ``target``, for the int8 variant: for each of :func:`smoothing_targets`, input channel
    ``j`` is divided by ``s_j = range_j ** a / weight_range_j ** (1 - a)`` (a ``Mul`` on
    the node's input; the layer norm's output also feeds the residual, which must not
    change) and row ``j`` of the weights multiplied by it, so the product is unchanged
    in exact arithmetic while the activations' outlier channels shrink toward the rest."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    nodes = smoothing_targets(graph)
    ranges = activation_ranges(model, sorted({n.input[0] for n in nodes}), tokenizer_file)
    initializers = {t.name: t for t in graph.initializer}
    for node in nodes:
        weights = numpy_helper.to_array(initializers[node.input[1]])  # [in, out]
        factors = np.maximum(ranges[node.input[0]], 1e-5) ** SMOOTH_ALPHA / np.maximum(
            np.abs(weights).max(axis=1), 1e-5
        ) ** (1 - SMOOTH_ALPHA)
        factors = factors.astype(np.float32)
        initializers[node.input[1]].CopyFrom(
            numpy_helper.from_array(weights * factors[:, None], node.input[1])
        )
        inverse = numpy_helper.from_array(1 / factors, f"{node.name}_smooth")
        graph.initializer.append(inverse)
        smoothed = f"{node.input[0]}_smoothed_{node.name}"
        graph.node.insert(
            list(graph.node).index(node),
            helper.make_node(
                "Mul", [node.input[0], inverse.name], [smoothed], name=f"{node.name}_smooth"
            ),
        )
        node.input[0] = smoothed
    onnx.save_model(model, str(target))
