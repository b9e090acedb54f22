"""The same model run by ONNX Runtime, in float32 or with int8 weights.

A sentence-transformers folder is exported once (transformer + mean or CLS pooling +
L2 normalisation in one graph) and cached beside the other converted models. The export
uses the transformer's plain ("eager") attention, whose graph ONNX Runtime's transformer
optimiser recognises and fuses: each layer's attention becomes one ``Attention`` kernel,
the residual adds and layer norms ``SkipLayerNormalization``, bias and GELU ``BiasGelu``
(same vectors to a cosine of 0.99999, ~1.2x the throughput of the unfused graph). The
int8 variant is the fused graph with its weights quantised (``quantize_dynamic``: int8
weights with one scale per output channel, activations quantised per batch at run time;
the fused attention runs as ``QAttention``), except the feed-forward output projections
of the first half of the layers (:func:`early_ffn_outputs`). Before quantising, the inputs
of the attention and feed-forward input projections are smoothed (:func:`smooth`): their
few outlier channels are divided down and the weights multiplied up to match, so that one
int8 scale per batch fits the activations (vectors 2.8x closer to float32's).
Serving then needs neither torch nor sentence-transformers: a ``tokenizers`` tokenizer
and an ONNX Runtime session.

Texts are sorted by length and batched, like sentence-transformers does, so a batch
pads to similar lengths; inputs longer than ``max_seq_length`` tokens are truncated.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.core.errors import ModelLoadError

if TYPE_CHECKING:
    import onnx

ONNX_FILES = {"onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}
# Bumped whenever the export changes, so cached graphs are rebuilt.
EXPORT_VERSION = 6


def _pooling(folder: Path) -> str:
    """``mean`` or ``cls``, read from the folder's sentence-transformers pooling module."""
    modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    pooling = next((m for m in modules if m["type"].endswith("Pooling")), None)
    if pooling is None:
        return "mean"
    config = json.loads((folder / pooling["path"] / "config.json").read_text(encoding="utf-8"))
    if config.get("pooling_mode_mean_tokens"):
        return "mean"
    if config.get("pooling_mode_cls_token"):
        return "cls"
    raise ModelLoadError(
        f"model in {folder} uses a pooling the ONNX backend does not export; set QA_BACKEND=torch"
    )


def _max_length(folder: Path) -> int:
    config = folder / "sentence_bert_config.json"
    if config.is_file():
        return int(json.loads(config.read_text(encoding="utf-8")).get("max_seq_length") or 512)
    return 512


def export_folder(model_folder: Path, cache_dir: Path) -> Path:
    """Cache folder for the ONNX graphs of ``model_folder`` (keyed by its weights)."""
    weights = model_folder / "model.safetensors"
    stamp = f"{model_folder.resolve()}:{weights.stat().st_size if weights.exists() else 0}"
    key = hashlib.sha256(f"{stamp}:v{EXPORT_VERSION}".encode()).hexdigest()[:12]
    return cache_dir / "onnx" / f"{model_folder.name}-{key}"


def export_onnx(model_folder: Path, target: Path) -> None:
    """Write ``model.onnx`` (float32) and ``model-int8.onnx`` for ``model_folder``."""
    import onnx
    import torch
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer

    pooling = _pooling(model_folder)
    st = SentenceTransformer(
        str(model_folder),
        device="cpu",
        local_files_only=True,
        # the plain attention graph, which the optimiser fuses (scaled-dot-product
        # attention exports as a pattern it does not recognise)
        model_kwargs={"attn_implementation": "eager"},
    )
    transformer = st[0].auto_model.eval()

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state
            if pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        sample = st.tokenizer(["passage: a", "passage: b c"], return_tensors="pt", padding=True)
        with torch.no_grad():
            torch.onnx.export(
                Encoder(),
                (sample["input_ids"], sample["attention_mask"]),
                str(tmp / "exported.onnx"),
                input_names=["input_ids", "attention_mask"],
                output_names=["embedding"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "tokens"},
                    "attention_mask": {0: "batch", 1: "tokens"},
                    "embedding": {0: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
        fuse(tmp / "exported.onnx", tmp / ONNX_FILES["onnx"], transformer.config)
        (tmp / "exported.onnx").unlink()
        smooth(tmp / ONNX_FILES["onnx"], tmp / "smoothed.onnx", model_folder / "tokenizer.json")
        quantize_dynamic(
            str(tmp / "smoothed.onnx"),
            str(tmp / ONNX_FILES["onnx-int8"]),
            # the weight matrices (the word-embedding table stays float, halved below)
            op_types_to_quantize=["MatMul", "Attention"],
            weight_type=QuantType.QInt8,
            per_channel=True,  # one scale per output column
            nodes_to_exclude=early_ffn_outputs(tmp / ONNX_FILES["onnx"]),
            # the fused operators are outside the ONNX domain: their outputs are float
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
        (tmp / "smoothed.onnx").unlink()
        for name in ONNX_FILES.values():
            model = onnx.load(str(tmp / name))  # each graph read and written once more
            half_word_embeddings(model)
            save_weights_beside(model, tmp / name)
        shutil.copy(model_folder / "tokenizer.json", tmp / "tokenizer.json")
        (tmp / "export.json").write_text(
            json.dumps(
                {
                    "source": model_folder.name,
                    "pooling": pooling,
                    "max_length": _max_length(model_folder),
                }
            ),
            encoding="utf-8",
        )
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fuse(source: Path, target: Path, config: object) -> None:
    """``source`` with ONNX Runtime's BERT fusions applied (attention, skip layer norm,
    bias GELU), written to ``target``. The embedding lookup is left as it is, so its table
    can be stored in float16 (:func:`half_word_embeddings`)."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.enable_embed_layer_norm = False
    optimized = optimize_model(
        str(source),
        model_type="bert",
        num_heads=int(getattr(config, "num_attention_heads", 0)),
        hidden_size=int(getattr(config, "hidden_size", 0)),
        optimization_options=options,
    )
    optimized.save_model_to_file(str(target))


def model_inputs(ids: Sequence[Sequence[int]], pad_id: int) -> dict[str, np.ndarray]:
    """The graph's inputs for a batch of token ids: ``input_ids`` padded with ``pad_id`` to
    the longest, and the ``attention_mask`` marking the real tokens."""
    width = max(len(row) for row in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for i, row in enumerate(ids):
        input_ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


# SmoothQuant's migration strength: the share of an input channel's range moved into the
# weights. Measured (256 fakebr passages, 1 - cosine to float32, mean): none 0.00105,
# 0.3 0.00066, 0.5 0.00043, 0.7 0.00037, 0.8 0.00038.
SMOOTH_ALPHA = 0.7


def smoothing_targets(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """The weight-bearing nodes fed by a layer norm: each layer's ``Attention`` (its
    query/key/value projection) and feed-forward input ``MatMul``. Their inputs carry the
    outlier channels. (The feed-forward output projections, fed by GELU, get worse when
    smoothed: their error grows fivefold.)"""
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

    from qa.embed.calibration import CALIBRATION_TEXTS

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


def early_ffn_outputs(path: Path) -> list[str]:
    """The feed-forward output projections (MatMul fed by ``BiasGelu``) of the first half
    of the layers, which the int8 graph keeps in float32. Their input, a GELU output, has
    the widest range of any activation, so one int8 scale per batch fits it worst, and an
    early layer's error passes through every later one. Measured on pira_xling (dense
    MRR@10, float32 0.7804): all layers int8 0.7744 at 2.6x the PyTorch throughput; these
    six float32 0.7818 at 2.3x; all twelve float32 0.7776 at 2.0x."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    gelu_outputs = {out for node in graph.node if node.op_type == "BiasGelu" for out in node.output}
    ffn = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[0] in gelu_outputs]
    return ffn[: len(ffn) // 2]


def half_word_embeddings(model: onnx.ModelProto) -> None:
    """Store the word-embedding table (the largest tensor: 250k x 384 for e5-small) of
    ``model`` in float16 and cast the looked-up rows back to float32: 190 MB less memory,
    vectors unchanged to a cosine of 0.99999 (the table only feeds a lookup)."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    for position, node in enumerate(graph.node):
        table = initializers.get(node.input[0]) if node.op_type == "Gather" else None
        if table is None or table.data_type != TensorProto.FLOAT or table.dims[0] < 10_000:
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(table).astype(np.float16), table.name)
        graph.initializer.remove(table)
        graph.initializer.append(half)
        output = node.output[0]
        node.output[0] = f"{output}_float16"
        cast = helper.make_node(
            "Cast", [node.output[0]], [output], to=TensorProto.FLOAT, name=f"{node.name}_cast"
        )
        graph.node.insert(position + 1, cast)
        break


def save_weights_beside(model: onnx.ModelProto, path: Path) -> None:
    """Write ``model`` to ``path`` with its weights in ``<name>.data`` beside it. ONNX
    Runtime maps that file into memory instead of copying it, so only the pages a run
    reads become resident: a question touches a few rows of the 250k-row word-embedding
    table, not all of it (about 240 MB less resident memory for a serving process)."""
    import onnx

    data = path.with_name(f"{path.name}.data")
    data.unlink(missing_ok=True)
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=data.name,
        size_threshold=1024,
    )


def ensure_exported(model_folder: Path, cache_dir: Path) -> Path:
    target = export_folder(model_folder, cache_dir)
    files = [*ONNX_FILES.values(), *(f"{f}.data" for f in ONNX_FILES.values()), "export.json"]
    if not all((target / f).is_file() for f in files):
        export_onnx(model_folder, target)
    return target


# Texts tokenised at once: this many batches' worth (length-sorted within the window).
TOKENIZE_WINDOW_BATCHES = 32
# Padded tokens per batch, per text of ``batch_size``: 32 texts of up to 128 tokens, fewer
# of longer ones (8 of 512).
BATCH_TOKENS = 128


class OnnxEmbedder:
    """:class:`~qa.embed.Embedder` running an exported graph with ONNX Runtime."""

    def __init__(
        self,
        folder: Path,
        backend: str,
        name: str,
        query_prompt: str = "",
        passage_prompt: str = "",
        batch_size: int = 32,
        threads: int | None = None,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        info = json.loads((folder / "export.json").read_text(encoding="utf-8"))
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(info["max_length"]))
        self.pad_id = self.tokenizer.token_to_id("<pad>") or 0
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(folder / ONNX_FILES[backend]), options, providers=["CPUExecutionProvider"]
        )
        self.name, self.backend = name, backend
        self.export = folder.name  # which export (model weights and export version) runs
        self.query_prompt, self.passage_prompt = query_prompt, passage_prompt
        self.batch_size = batch_size
        self.dim = int(self._run([[0, 2]]).shape[1])

    def _run(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        (vectors,) = self.session.run(None, model_inputs(ids, self.pad_id))
        return vectors

    def _batches(self, lengths: Sequence[int]) -> list[np.ndarray]:
        """Rows grouped into batches, longest first: at most ``batch_size`` texts and at
        most ``batch_size * BATCH_TOKENS`` padded tokens each, so a batch of long passages
        holds fewer of them (attention memory grows with the square of the length; ONNX
        Runtime keeps its largest batch's memory for reuse)."""
        budget = self.batch_size * BATCH_TOKENS
        order = np.argsort([-n for n in lengths], kind="stable")
        batches: list[np.ndarray] = []
        start = 0
        while start < len(order):
            width = max(lengths[order[start]], 1)  # the longest of the batch comes first
            size = max(1, min(self.batch_size, budget // width))
            batches.append(order[start : start + size])
            start += size
        return batches

    def _encode(self, texts: Sequence[str], prompt: str, progress: bool) -> np.ndarray:
        """Vectors of ``texts``, tokenised a window at a time (so a corpus-sized call holds
        one window's tokens, not all of them) and run in batches of similar length."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        window = self.batch_size * TOKENIZE_WINDOW_BATCHES
        bar = None
        if progress and texts:
            from tqdm import tqdm

            bar = tqdm(total=len(texts), desc="Embedding", unit="text")
        for first in range(0, len(texts), window):
            part = texts[first : first + window]
            encodings = self.tokenizer.encode_batch([prompt + t for t in part])
            for rows in self._batches([len(e.ids) for e in encodings]):
                out[first + rows] = self._run([encodings[i].ids for i in rows])
                if bar is not None:
                    bar.update(len(rows))
            del encodings
        if bar is not None:
            bar.close()
        return out

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.query_prompt, progress=False)

    def encode_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self._encode(texts, self.passage_prompt, progress=progress)
