"""Shared fixtures: the real default model and a real index of the seed articles."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qa.api import create_app
from qa.core.config import Settings
from qa.embed import Embedder, load_embedder
from qa.index import Collection, Index
from qa.ingest import Document, load_documents
from qa.service import QAService
from qa.store import Chunking
from qa.vectors import VectorBackend, make_backend

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
BENCHMARKS = REPO.parent / "shared" / "benchmarks"
HUANG_DOC = "000_85821104f3ed5419.txt"
LOCAL = "http://127.0.0.1"  # test clients call as a local client does (Host: 127.0.0.1)
CANTOR_DOC = "002_50e6e5fcbdbef445.txt"


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


def faiss_backend(**settings: object) -> VectorBackend:
    """The FAISS backend, with the default settings changed by ``settings``."""
    return make_backend(Settings(**settings), "faiss")  # type: ignore[arg-type]


@dataclass(frozen=True)
class ModelStandIn:
    """What opening an index checks of a model: its name and dimension."""

    name: str
    dim: int


def build_index(
    documents: list[Document],
    embedder: Embedder,
    index_dir: Path,
    size: int = 700,
    overlap: int = 150,
    backend: VectorBackend | None = None,
    companion: bool = True,
) -> Index:
    """A new index of ``documents`` in ``index_dir``, as ``qa index`` builds it (with the
    second encoder's passage vectors, as the default settings do)."""
    collection = Collection.create(
        index_dir,
        backend or faiss_backend(),
        embedder,
        documents,
        Chunking(size=size, overlap=overlap),
        companion=companion,
    )
    return collection.index


def open_index(
    index_dir: Path, model: ModelStandIn | None = None, backend: VectorBackend | None = None
) -> Index:
    """The committed index of ``index_dir``, read as a reader does (no lock, no repair)."""
    collection = Collection.open(index_dir, backend or faiss_backend(), model, writable=False)  # type: ignore[arg-type]
    return collection.index


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # no rate limits: the suite sends bursts (tests/api/test_security.py checks the limits)
    return Settings(
        index_dir=tmp_path_factory.mktemp("index"),
        sources=[SEEDS],
        rate_limit="",
        write_rate_limit="",
    )


@pytest.fixture(scope="session")
def embedder(settings: Settings) -> Embedder:
    return load_embedder(settings)


@pytest.fixture(scope="session")
def float_embedder(settings: Settings, embedder: Embedder) -> Embedder:
    """The float32 ONNX graph, whatever the default backend: a text's vector does not
    depend on its batch-mates (``onnx-int8`` quantises activations with one scale per
    batch). The session's ``embedder`` when that is already it."""
    if settings.backend == "onnx":
        return embedder
    return load_embedder(settings.model_copy(update={"backend": "onnx"}))


@pytest.fixture(scope="session")
def seed_docs() -> list[Document]:
    return load_documents([SEEDS])


@pytest.fixture(scope="session")
def seed_index(settings: Settings, embedder: Embedder, seed_docs: list[Document]) -> Index:
    return build_index(seed_docs, embedder, settings.index_dir)


@pytest.fixture(scope="session")
def service(settings: Settings, embedder: Embedder, seed_index: Index) -> QAService:
    return QAService.start(settings, embedder)


@pytest.fixture(scope="session")
def client(service: QAService) -> Iterator[TestClient]:
    with TestClient(create_app(service.settings, service=service), base_url=LOCAL) as test_client:
        yield test_client
