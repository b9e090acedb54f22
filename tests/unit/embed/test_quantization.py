"""Per-token int8 products: the graph computes what a numpy reference of the same rule
computes, a row's result does not depend on the other rows, and no code can make ONNX
Runtime's 16-bit pair sums saturate."""

from __future__ import annotations

import numpy as np
import pytest

from qa.embed.export.quantization import (
    ACTIVATION_LEVELS,
    ACTIVATION_ZERO,
    WEIGHT_LEVELS,
    quantize_per_token,
    quantize_weights,
)

K, N = 64, 48


def reference(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The per-token rule of :mod:`qa.embed.export.quantization`, in numpy."""
    scale = np.maximum(np.abs(x).max(axis=-1, keepdims=True), 1e-12) / ACTIVATION_LEVELS
    codes = np.round(x / scale)
    w_codes, w_scales = quantize_weights(weights)
    return (codes @ w_codes.astype(np.float64)) * w_scales * scale


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    """A one-product graph ``y = x @ W`` and its per-token int8 version."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    weights = rng.standard_normal((K, N)).astype(np.float32)
    weights[3] *= 20  # an outlier row, as smoothing leaves them
    node = helper.make_node("MatMul", ["x", "W"], ["y"], name="product")
    model = helper.make_model(
        helper.make_graph(
            [node],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "t", K])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "t", N])],
            [numpy_helper.from_array(weights, "W")],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    folder = tmp_path_factory.mktemp("quantized")
    onnx.save_model(model, str(folder / "float.onnx"))
    assert quantize_per_token(folder / "float.onnx", folder / "int8.onnx") == 1
    return folder / "int8.onnx", weights


def run(path, x):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_the_graph_computes_the_reference_rule(graph):
    path, weights = graph
    x = np.random.default_rng(1).standard_normal((3, 5, K)).astype(np.float32)
    x[0, 0] *= 50  # a loud token does not coarsen its neighbours' codes
    got = run(path, x)
    want = reference(x.astype(np.float64), weights)
    # float rounding can move a code by one where x / scale is within 1e-6 of a half
    assert np.abs(got - want).max() <= 2 * np.abs(want).max() / ACTIVATION_LEVELS / WEIGHT_LEVELS
    exact = x @ weights
    assert np.abs(got - exact).max() < 0.05 * np.abs(exact).max()


def test_a_row_does_not_depend_on_its_batch_mates(graph):
    path, _ = graph
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 4, K)).astype(np.float32)
    loud = np.concatenate([x, 100 * rng.standard_normal((1, 4, K)).astype(np.float32)])
    alone, beside = run(path, x)[0], run(path, loud)[0]
    assert np.abs(alone - beside).max() <= 1e-6 * np.abs(alone).max()


def test_codes_cannot_saturate_sixteen_bit_pair_sums():
    """Without VNNI, ONNX Runtime adds two uint8 x int8 products in 16 bits with
    saturation: the largest code pair must stay below 32,767."""
    weights = np.random.default_rng(3).standard_normal((K, N)).astype(np.float32) * 1e3
    codes, scales = quantize_weights(weights)
    assert codes.dtype == np.int8 and np.abs(codes).max() == WEIGHT_LEVELS
    assert scales.shape == (N,) and scales.dtype == np.float32
    largest_activation = ACTIVATION_ZERO + ACTIVATION_LEVELS
    assert 2 * largest_activation * WEIGHT_LEVELS < 2**15
    # a column of zeros gets a tiny scale, not a division by zero
    codes, scales = quantize_weights(np.zeros((K, 2), np.float32))
    assert not codes.any() and np.isfinite(scales).all()
