"""Export a sentence-transformers folder to ONNX, once: a float32 graph and its int8 variant.

The graph holds the transformer, mean (or CLS) pooling and L2 normalisation; besides the
text's vector (``embedding``) it gives the transformer's last hidden states (``tokens``), from
which the vectors of spans of a text can be pooled (``python -m bench.late_chunking``). The export
uses the transformer's plain ("eager") attention, whose graph ONNX Runtime's transformer
optimiser recognises and fuses (:func:`fuse`): each layer's attention becomes one
``Attention`` kernel, the residual adds and layer norms ``SkipLayerNormalization``, bias
and GELU ``BiasGelu``. The int8 variant is fused with each attention's query, key and
value projections left as matrix products (``MultiHeadAttention`` takes their outputs),
smoothed (:mod:`qa.embed.export.smoothing`), and every matrix product turned into int8
with one activation scale per token (:mod:`qa.embed.export.quantization`): a text's
vector does not depend on its batch-mates, and the integer products are exact on CPUs
with and without AVX-512 VNNI. Both graphs keep their word-embedding table in float16
and their weights in a file beside them, which ONNX Runtime maps instead of copying.
Fidelity and speed of each graph: ``tests/embed/test_onnx.py`` and ``eval/BENCH.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.core.errors import ModelLoadError
from qa.embed.export.quantization import quantize_per_token
from qa.embed.export.smoothing import smooth
from qa.embed.onnx import ONNX_FILES

if TYPE_CHECKING:
    import onnx

# Bumped whenever the export changes, so cached graphs are rebuilt.
EXPORT_VERSION = 9


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
    """Write ``model.onnx`` (float32) and ``model-int8.onnx`` for ``model_folder`` into
    ``target`` (built in a temporary folder, then renamed into place)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        pooling = _pooling(model_folder)
        config = _trace(model_folder, pooling, tmp / "exported.onnx")
        fuse(tmp / "exported.onnx", tmp / ONNX_FILES["onnx"], config)
        fuse(tmp / "exported.onnx", tmp / "projections.onnx", config, separate_projections=True)
        (tmp / "exported.onnx").unlink()
        smooth(tmp / "projections.onnx", tmp / "smoothed.onnx", model_folder / "tokenizer.json")
        quantize_per_token(tmp / "smoothed.onnx", tmp / ONNX_FILES["onnx-int8"])
        (tmp / "projections.onnx").unlink()
        (tmp / "smoothed.onnx").unlink()
        import onnx

        for name in ONNX_FILES.values():
            model = onnx.load(str(tmp / name))  # each graph read and written once more
            half_word_embeddings(model)
            save_weights_beside(model, tmp / name)
        shutil.copy(model_folder / "tokenizer.json", tmp / "tokenizer.json")
        info = {
            "source": model_folder.name,
            "pooling": pooling,
            "max_length": _max_length(model_folder),
        }
        (tmp / "export.json").write_text(json.dumps(info), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _trace(model_folder: Path, pooling: str, path: Path) -> Any:
    """Trace the model (transformer, pooling, normalisation) into the ONNX graph ``path``;
    returns the transformer's configuration."""
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(
        str(model_folder),
        device="cpu",
        local_files_only=True,
        # the plain attention graph, which the optimiser fuses (scaled-dot-product
        # attention exports as a pattern it does not recognise)
        model_kwargs={"attn_implementation": "eager"},
    )
    transformer: Any = st[0].auto_model
    transformer.eval()

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor]:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state
            if pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1), hidden

    sample = st.tokenizer(["passage: a", "passage: b c"], return_tensors="pt", padding=True)
    with torch.no_grad():
        torch.onnx.export(
            Encoder(),
            (sample["input_ids"], sample["attention_mask"]),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding", "tokens"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "embedding": {0: "batch"},
                "tokens": {0: "batch", 1: "tokens"},
            },
            opset_version=17,
            dynamo=False,
        )
    return transformer.config


def fuse(source: Path, target: Path, config: object, separate_projections: bool = False) -> None:
    """``source`` with ONNX Runtime's BERT fusions applied (attention, skip layer norm,
    bias GELU), written to ``target``. The embedding lookup is left as it is, so its table
    can be stored in float16 (:func:`half_word_embeddings`). With ``separate_projections``
    the attention is ``MultiHeadAttention`` fed by the query, key and value projections as
    three ``MatMul`` nodes (which the int8 graph quantises); otherwise one ``Attention``
    kernel holds them."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.enable_embed_layer_norm = False
    options.use_multi_head_attention = separate_projections
    optimized = optimize_model(
        str(source),
        model_type="bert",
        num_heads=int(getattr(config, "num_attention_heads", 0)),
        hidden_size=int(getattr(config, "hidden_size", 0)),
        optimization_options=options,
    )
    optimized.save_model_to_file(str(target))


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
    """The export folder of ``model_folder`` under ``cache_dir``, exported on first use."""
    target = export_folder(model_folder, cache_dir)
    files = [*ONNX_FILES.values(), *(f"{f}.data" for f in ONNX_FILES.values()), "export.json"]
    if not all((target / f).is_file() for f in files):
        export_onnx(model_folder, target)
    return target
