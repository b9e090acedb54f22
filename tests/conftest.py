"""Shared fixtures: the real default model and a real index of the seed articles."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from qa.api import create_app
from qa.collection import build_index
from qa.core.config import Settings
from qa.embed import SentenceTransformerEmbedder, load_embedder
from qa.index import Index
from qa.ingest import Document, load_documents
from qa.service import QAService

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
BENCHMARKS = REPO.parent / "shared" / "benchmarks"
HUANG_DOC = "000_85821104f3ed5419.txt"
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


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(index_dir=tmp_path_factory.mktemp("index"), sources=[SEEDS])


@pytest.fixture(scope="session")
def embedder(settings: Settings) -> SentenceTransformerEmbedder:
    return load_embedder(settings)


@pytest.fixture(scope="session")
def seed_docs() -> list[Document]:
    return load_documents([SEEDS])


@pytest.fixture(scope="session")
def seed_index(
    settings: Settings, embedder: SentenceTransformerEmbedder, seed_docs: list[Document]
) -> Index:
    return build_index(
        seed_docs, embedder, settings.index_dir, settings.chunk_size, settings.chunk_overlap
    )


@pytest.fixture(scope="session")
def service(
    settings: Settings, embedder: SentenceTransformerEmbedder, seed_index: Index
) -> QAService:
    return QAService.start(settings, embedder)


@pytest.fixture(scope="session")
def client(service: QAService) -> Iterator[TestClient]:
    with TestClient(create_app(service.settings, service=service)) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(index_dir: Path, **env: str) -> Iterator[str]:
    """`qa serve` over ``index_dir`` in its own process; yields its base URL once healthy."""
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("qa")), "serve", "--port", str(port)],
        env={**os.environ, "QA_INDEX_DIR": str(index_dir), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
