"""The API suite runs once per vector store: FAISS in the process and Milvus (Lite).

``seed_index`` and ``service`` are overridden here; the shared ``client`` fixture takes
these, so it too comes once per store."""

from __future__ import annotations

import pytest

from qa.core.config import Settings
from qa.embed import Embedder
from qa.index import Index
from qa.ingest import Document
from qa.service import QAService
from qa.vectors import make_backend

from ..conftest import build_index


@pytest.fixture(scope="session", params=["faiss", "milvus"])
def backend_settings(
    request: pytest.FixtureRequest, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """The suite's settings with one vector store, and an index folder of its own (Milvus
    Lite lives inside it)."""
    return settings.model_copy(
        update={
            "vector_store": request.param,
            "index_dir": tmp_path_factory.mktemp(f"index-{request.param}"),
        }
    )


@pytest.fixture(scope="session")
def server_env(backend_settings: Settings) -> dict[str, str]:
    """What a `qa serve` child needs to use the same vector store."""
    return {"QA_VECTOR_STORE": backend_settings.vector_store}


@pytest.fixture(scope="session")
def seed_index(backend_settings: Settings, embedder: Embedder, seed_docs: list[Document]) -> Index:
    return build_index(
        seed_docs, embedder, backend_settings.index_dir, backend=make_backend(backend_settings)
    )


@pytest.fixture(scope="session")
def service(backend_settings: Settings, embedder: Embedder, seed_index: Index) -> QAService:
    return QAService.start(backend_settings, embedder)
