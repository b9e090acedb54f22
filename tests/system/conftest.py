"""The system lane: the real default model, server and writer processes, Milvus, the
browser."""

from __future__ import annotations

import pytest

from qa.core.config import Settings
from qa.embed import Embedder, load_embedder
from tests.lanes import lane_fixtures

settings, embedder, seed_docs, seed_index, service, query_models, client = lane_fixtures(
    load_embedder
)


@pytest.fixture(scope="session")
def float_embedder(settings: Settings, embedder: Embedder) -> Embedder:
    """The float32 ONNX graph, whatever the default backend (the session's ``embedder``
    when that is already it)."""
    if settings.backend == "onnx":
        return embedder
    return load_embedder(settings.model_copy(update={"backend": "onnx"}))
