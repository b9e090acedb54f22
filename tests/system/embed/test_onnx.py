"""The ONNX Runtime backends give the PyTorch model's vectors (float32) or close to them
(int8), with the same prompts, tokens and truncation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.core.errors import ModelLoadError
from qa.embed import load_embedder
from tests.helpers import SEEDS

TEXTS = [
    "O que Huang disse sobre os investidores?",
    "What did Huang say about investors?",
    "x",
    "Ação da NVIDIA caiu 17% — 😀 漢字 \u200b ﬁm",
    # longer than 512 tokens: every backend truncates it the same way
    (SEEDS / "000_85821104f3ed5419.txt").read_text(encoding="utf-8") * 2,
]


@pytest.fixture(scope="module")
def torch_embedder(settings):
    return load_embedder(settings.model_copy(update={"backend": "torch"}))


@pytest.mark.parametrize(("backend", "floor"), [("onnx", 0.9999), ("onnx-int8", 0.998)])
def test_backend_matches_pytorch(settings, torch_embedder, backend, floor):
    embedder = load_embedder(settings.model_copy(update={"backend": backend}))
    assert embedder.backend == backend and torch_embedder.backend == "torch"
    assert (embedder.query_prompt, embedder.passage_prompt) == ("query: ", "passage: ")
    for encode in ("encode_queries", "encode_passages"):
        got = getattr(embedder, encode)(TEXTS)
        want = getattr(torch_embedder, encode)(TEXTS)
        assert got.shape == want.shape == (len(TEXTS), 384) and got.dtype == np.float32
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        assert (got * want).sum(axis=1).min() >= floor
        # a text's vector does not depend on its batch-mates (int8 quantises each token
        # with a scale of its own); float rounding aside, on any CPU
        alone = getattr(embedder, encode)([TEXTS[3]])
        assert float(alone[0] @ got[3]) >= 0.99999
    assert embedder.encode_passages([]).shape == (0, 384)


def test_export_runs_fused_attention(settings):
    """Each layer's attention is one fused kernel in both graphs (int8: its projections
    are int8 products outside it)."""
    import onnx

    from qa.embed import resolve_model_path
    from qa.embed.export.onnx_export import ensure_exported
    from qa.embed.onnx import ONNX_FILES

    folder = ensure_exported(Path(resolve_model_path(settings)), settings.model_cache)
    for backend, attention in (("onnx", "Attention"), ("onnx-int8", "MultiHeadAttention")):
        graph = onnx.load(str(folder / ONNX_FILES[backend]), load_external_data=False).graph
        ops = [node.op_type for node in graph.node]
        assert ops.count(attention) == 12 and "Softmax" not in ops
        assert ops.count("SkipLayerNormalization") == 24
    # int8 keeps the feed-forward output projections of layers 0-5 in float32, quantises
    # the other 66 products with one scale per token, and smooths the inputs of each
    # layer's query, key, value and feed-forward input projections
    assert ops.count("MatMul") == 6 and ops.count("MatMulInteger") == 66
    assert ops.count("DynamicQuantizeLinear") == 0
    assert sum(node.name.endswith("_smooth") for node in graph.node) == 48


def test_smoothing_keeps_the_float_function(settings, tmp_path):
    """Smoothing moves range from activations into weights: in float32 the smoothed graph
    computes the same vectors, and the inputs it quantises have a smaller range."""
    import onnx
    import onnxruntime as ort

    from qa.embed import resolve_model_path
    from qa.embed.export.onnx_export import ensure_exported
    from qa.embed.export.smoothing import activation_ranges, smooth
    from qa.embed.onnx import ONNX_FILES, model_inputs

    folder = ensure_exported(Path(resolve_model_path(settings)), settings.model_cache)
    source, smoothed = folder / ONNX_FILES["onnx"], tmp_path / "smoothed.onnx"
    smooth(source, smoothed, folder / "tokenizer.json")
    graph = onnx.load(str(smoothed), load_external_data=False).graph
    muls = [n for n in graph.node if n.name.endswith("_smooth")]
    assert len(muls) == 24
    embedder = load_embedder(settings.model_copy(update={"backend": "onnx"}))
    encodings = embedder.tokenizer.encode_batch(["passage: " + t for t in TEXTS[:4]])
    feeds = model_inputs([e.ids for e in encodings], embedder.pad_id)
    (before,) = ort.InferenceSession(str(source)).run(["embedding"], feeds)
    (after,) = ort.InferenceSession(str(smoothed)).run(["embedding"], feeds)
    assert (before * after).sum(axis=1).min() >= 0.99999
    # the largest channel of each smoothed input over its median channel (10-28x at the
    # feed-forward inputs, 3-7x at the attention inputs) shrinks to at most 4x
    tokenizer = folder / "tokenizer.json"
    raw = activation_ranges(onnx.load(str(source)), [m.input[0] for m in muls], tokenizer)
    out = activation_ranges(onnx.load(str(smoothed)), [m.output[0] for m in muls], tokenizer)
    for mul in muls:
        before_spread = raw[mul.input[0]].max() / np.median(raw[mul.input[0]])
        after_spread = out[mul.output[0]].max() / np.median(out[mul.output[0]])
        assert after_spread <= min(4.0, before_spread / 1.5), mul.name


def test_onnx_needs_a_local_folder(settings):
    with pytest.raises(ModelLoadError, match="local sentence-transformers folder"):
        load_embedder(settings.model_copy(update={"backend": "onnx", "model": "org/not-here"}))


def test_large_calls_are_tokenised_a_window_at_a_time(settings, monkeypatch):
    """A call longer than one tokenisation window puts every vector back in its row."""
    from qa.embed import onnx

    embedder = load_embedder(settings.model_copy(update={"backend": "onnx", "batch_size": 2}))
    texts = [f"{t} ({i})" for i, t in enumerate(TEXTS[:4] * 3)]
    whole = embedder.encode_passages(texts)
    monkeypatch.setattr(onnx, "TOKENIZE_WINDOW_BATCHES", 1)  # windows of 2 texts
    calls: list[int] = []
    encode_batch = embedder.tokenizer.encode_batch
    monkeypatch.setattr(
        embedder, "tokenizer", _Counting(embedder.tokenizer, encode_batch, calls), raising=False
    )
    windowed = embedder.encode_passages(texts)
    assert calls == [2] * 6
    assert (whole * windowed).sum(axis=1).min() >= 0.9999
    one_by_one = np.vstack([embedder.encode_passages([t]) for t in texts])
    assert (one_by_one * windowed).sum(axis=1).min() >= 0.9999


class _Counting:
    """A tokenizer that records the size of each ``encode_batch`` call."""

    def __init__(self, tokenizer, encode_batch, calls: list[int]) -> None:
        self._tokenizer, self._encode_batch, self._calls = tokenizer, encode_batch, calls

    def encode_batch(self, texts):
        self._calls.append(len(texts))
        return self._encode_batch(texts)

    def __getattr__(self, name):
        return getattr(self._tokenizer, name)


def test_a_questions_texts_run_side_by_side_with_the_vectors_of_a_batch(settings):
    """A question and its translation (no more texts than threads) run one thread each,
    side by side, on a session of their own; their vectors are the batch's, float rounding
    aside, and so are those of more texts than threads, which go as a batch."""
    embedder = load_embedder(settings.model_copy(update={"backend": "onnx-int8", "threads": 2}))
    pair = [TEXTS[0], TEXTS[4]]  # the second longer than 512 tokens: truncated the same way
    together = embedder._encode(pair, embedder.query_prompt, progress=False)
    side_by_side = embedder.encode_queries(pair)
    assert embedder._single is not None and embedder._pool is not None
    assert side_by_side.shape == (2, 384) and side_by_side.dtype == np.float32
    assert (together * side_by_side).sum(axis=1).min() >= 0.99999
    many = embedder.encode_queries([*pair, TEXTS[1]])  # three texts: one batch
    assert (many[:2] * side_by_side).sum(axis=1).min() >= 0.99999
