"""What tests of both lanes share: paths of the seed articles and benchmarks, index
builders, and a stand-in embedder for tests where the model is not the point."""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from qa.collection import FolderCollection
from qa.core.config import Settings
from qa.embed import Embedder
from qa.embed.companion import CompanionEncoder
from qa.index import Index
from qa.ingest import Document
from qa.store import Chunking
from qa.vectors import VectorBackend, make_backend

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
BENCHMARKS = REPO.parent / "shared" / "benchmarks"
HUANG_DOC = "000_85821104f3ed5419.txt"
CANTOR_DOC = "002_50e6e5fcbdbef445.txt"
HUANG_SAYS = ("avaliaram mal a situação", "entenderam tudo errado")  # his words on investors
# articles the seed index does not hold
PETRO = (
    "Petrobras anuncia lucro recorde\n\n"
    "A Petrobras anunciou lucro recorde de R$ 30 bilhões no terceiro trimestre, segundo o "
    "relatório divulgado pela empresa nesta quinta-feira. A produção de petróleo do pré-sal "
    "cresceu 12% no período."
)
VALE = (
    "Vale registra prejuízo\n\n"
    "A mineradora Vale registrou prejuízo de R$ 4 bilhões no trimestre por causa da queda do "
    "preço do minério de ferro na China, informou a companhia."
)
FESTIVAL = (
    "Festival de inverno\n\n"
    "O festival de inverno de Campos do Jordão recebeu 40 mil visitantes neste fim de semana, "
    "segundo a prefeitura, com concertos de música clássica ao ar livre."
)
FESTIVAL_QUESTION = {
    "question": "Quantos visitantes recebeu o festival de inverno?",
    "answer": False,
}
# the second encoder, one for the whole run (its model loads on first use)
COMPANION_ENCODER = CompanionEncoder()
LOCAL = "http://127.0.0.1"  # test clients call as a local client does (Host: 127.0.0.1)


def original_text(doc_id: str) -> str:
    """A seed article exactly as stored: UTF-8 bytes decoded, no newline translation."""
    return (SEEDS / doc_id).read_bytes().decode("utf-8")


def snapshot(index_dir: Path) -> dict[str, bytes]:
    """Every stored file of an index folder (its lock file aside), by relative path."""
    return {
        p.relative_to(index_dir).as_posix(): p.read_bytes()
        for p in sorted(index_dir.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def benchmark(name: str) -> Path:
    path = BENCHMARKS / name
    if not path.exists():
        pytest.skip(f"benchmark data {name} not available beside the repository")
    return path


def one_line_error(result) -> str:
    """The one ``error: …`` line a failed command printed."""
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def seconds_until(check, limit: float = 10.0) -> float:
    """Seconds until ``check()`` holds, polled every 20 ms (fails after ``limit``)."""
    started = time.perf_counter()
    while not check():
        assert time.perf_counter() - started < limit, "the server never saw the change"
        time.sleep(0.02)
    return time.perf_counter() - started


def lane_settings(folder: Path) -> Settings:
    """The suite's settings: an index folder of the lane's own, no rate limits (the suite
    sends bursts; tests of the limits set their own)."""
    return Settings(
        index_dir=folder, sources=[SEEDS], rate_limit="", write_rate_limit="", free_rate_limit=""
    )


def faiss_backend(**settings: object) -> VectorBackend:
    """The FAISS backend, with the default settings changed by ``settings``."""
    return make_backend(Settings(**settings), "faiss")  # type: ignore[arg-type]


@dataclass(frozen=True)
class ModelStandIn:
    """What opening an index checks of a model: its name and dimension."""

    name: str
    dim: int


class StandInEmbedder:
    """A model for tests where the model is not the point: a text's vector is its words
    and character trigrams hashed into ``dim`` signed components, normalised. Texts that
    share words are near; nothing is loaded, and the vectors are the same on every
    machine."""

    name = "stand-in/hashed-words"
    backend = "stand-in"
    query_prompt = "query: "
    passage_prompt = "passage: "

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self.passages = 0  # how many passages it was asked to embed

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        words = re.findall(r"\w+", text.lower())
        features = words + [w[i : i + 3] for w in words for i in range(max(len(w) - 2, 1))]
        for feature in features:
            code = zlib.crc32(feature.encode("utf-8"))
            vector[code % self.dim] += 1.0 if code & 0x8000_0000 else -1.0
        norm = float(np.linalg.norm(vector))
        if norm == 0:
            vector[0], norm = 1.0, 1.0
        return vector / norm

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts]) if texts else self._empty()

    def encode_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        self.passages += len(texts)
        return np.stack([self._vector(t) for t in texts]) if texts else self._empty()

    def _empty(self) -> np.ndarray:
        return np.zeros((0, self.dim), dtype=np.float32)


class CountingEmbedder:
    """A model (real or stand-in), counting the passages it is asked to embed."""

    def __init__(self, real):
        self.real, self.name, self.dim, self.backend = real, real.name, real.dim, real.backend
        self.passages = 0

    def encode_passages(self, texts, progress=False):
        self.passages += len(texts)
        return self.real.encode_passages(texts, progress=progress)

    def encode_queries(self, texts):
        return self.real.encode_queries(texts)


def build_index(
    documents: list[Document],
    embedder: Embedder,
    index_dir: Path,
    chunking: Chunking | None = None,
    backend: VectorBackend | None = None,
    companion: bool = True,
) -> Index:
    """A new index of ``documents`` in ``index_dir``, as ``qa index`` builds it: the
    settings' chunking unless ``chunking`` says otherwise, and the second encoder's passage
    vectors, as the default settings do."""
    defaults = Settings()
    collection = FolderCollection.create(
        index_dir,
        backend or faiss_backend(),
        embedder,
        documents,
        chunking or Chunking(size=defaults.chunk_size, overlap=defaults.chunk_overlap),
        companion=COMPANION_ENCODER if companion else None,
    )
    return collection.index


def open_index(
    index_dir: Path, model: ModelStandIn | None = None, backend: VectorBackend | None = None
) -> Index:
    """The committed index of ``index_dir``, read as a reader does (no lock, no repair)."""
    collection = FolderCollection.open(index_dir, backend or faiss_backend(), model, writable=False)  # type: ignore[arg-type]
    return collection.index
