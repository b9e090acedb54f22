"""The fixtures each lane defines for itself, with its own embedder and index folder:
``tests/unit`` the stand-in embedder, ``tests/system`` the real model. (Session fixtures
of one definition would be shared by both lanes when they run together.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from qa.api import create_app
from qa.core.config import Settings
from qa.embed import Embedder
from qa.index import Index
from qa.ingest import Document, load_documents
from qa.search import QueryModels
from qa.service import Models, QAService, start_service
from qa.vectors import make_backend

from .helpers import LOCAL, SEEDS, build_index, lane_settings


def lane_fixtures(make_embedder: Callable[[Settings], Embedder]) -> tuple[object, ...]:
    """``settings``, ``embedder``, ``seed_docs``, ``seed_index``, ``service``,
    ``query_models`` and ``client`` for a lane whose model ``make_embedder`` gives."""

    @pytest.fixture(scope="session")
    def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
        return lane_settings(tmp_path_factory.mktemp("index"))

    @pytest.fixture(scope="session")
    def embedder(settings: Settings) -> Embedder:
        return make_embedder(settings)

    @pytest.fixture(scope="session")
    def seed_docs() -> list[Document]:
        return load_documents([SEEDS])

    @pytest.fixture(scope="session")
    def seed_index(settings: Settings, embedder: Embedder, seed_docs: list[Document]) -> Index:
        return build_index(seed_docs, embedder, settings.index_dir)

    @pytest.fixture(scope="session")
    def service(settings: Settings, embedder: Embedder, seed_index: Index) -> QAService:
        return start_service(settings, embedder)

    @pytest.fixture(scope="session")
    def query_models(settings: Settings, embedder: Embedder) -> QueryModels:
        """What the service's retrievers use besides the model (detector, translator,
        second encoder)."""
        return Models(settings, embedder).for_queries()

    @pytest.fixture(scope="session")
    def client(service: QAService) -> Iterator[TestClient]:
        app = create_app(service.settings, service=service)
        with TestClient(app, base_url=LOCAL) as test_client:
            yield test_client

    return settings, embedder, seed_docs, seed_index, service, query_models, client


def store_fixtures() -> tuple[object, ...]:
    """For an API suite that runs once per vector store (FAISS in the process and Milvus
    Lite): ``backend_settings``, ``server_env``, and ``seed_index`` and ``service`` in
    place of the lane's (the lane's ``client`` takes these, so it too comes once per
    store)."""

    @pytest.fixture(scope="session", params=["faiss", "milvus"])
    def backend_settings(
        request: pytest.FixtureRequest,
        settings: Settings,
        tmp_path_factory: pytest.TempPathFactory,
    ) -> Settings:
        """The suite's settings with one vector store, and an index folder of its own
        (Milvus Lite lives inside it)."""
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
    def seed_index(
        backend_settings: Settings, embedder: Embedder, seed_docs: list[Document]
    ) -> Index:
        backend = make_backend(backend_settings)
        return build_index(seed_docs, embedder, backend_settings.index_dir, backend=backend)

    @pytest.fixture(scope="session")
    def service(backend_settings: Settings, embedder: Embedder, seed_index: Index) -> QAService:
        return start_service(backend_settings, embedder)

    return backend_settings, server_env, seed_index, service
