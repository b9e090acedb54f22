from __future__ import annotations

import json

from fastapi.testclient import TestClient

from qa.api import create_app
from qa.service import start_service
from tests.helpers import CANTOR_DOC, HUANG_DOC, LOCAL


def test_health_reports_model_store_and_counts(client, seed_index, embedder, backend_settings):
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["model"] == embedder.name
    assert body["vector_store"] == backend_settings.vector_store
    assert body["documents"] == 2
    assert body["chunks"] == len(seed_index.chunks) > 2
    manifest = client.app.state.service.settings.index_dir / "manifest.json"
    assert body["generation"] == json.loads(manifest.read_text())["generation"]  # committed


def test_documents_lists_the_indexed_articles(client, seed_index):
    docs = client.get("/documents").json()["documents"]
    assert [d["doc_id"] for d in docs] == [HUANG_DOC, CANTOR_DOC]
    assert sum(d["chunks"] for d in docs) == len(seed_index.chunks)
    assert docs[1]["title"].startswith("Cantor Fitzgerald analisa NVIDIA")


def test_without_an_index_queries_say_how_to_build_one(backend_settings, embedder, tmp_path):
    empty = backend_settings.model_copy(update={"index_dir": tmp_path / "none"})
    service = start_service(empty, embedder)
    with TestClient(create_app(empty, service=service), base_url=LOCAL) as client:
        health = client.get("/health").json()
        assert health["status"] == "no_index" and health["documents"] == 0
        assert health["generation"] is None
        response = client.post("/query", json={"question": "hello"})
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "no_index"
        assert "qa index --source seeds" in response.json()["error"]["message"]
        assert client.get("/documents").status_code == 503
