from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from qa.api import create_app
from qa.api.schemas import QueryFilters
from qa.service import start_service
from tests.helpers import HUANG_DOC, LOCAL, original_text


def test_huang_question_returns_the_cited_portuguese_passage(client):
    response = client.post("/query", json={"question": "what did Huang say about investors?"})
    assert response.status_code == 200
    body = response.json()
    assert body["question"] == "what did Huang say about investors?"
    assert body["took_ms"] > 0
    assert len(body["results"]) == 5
    best = body["results"][0]
    assert best["rank"] == 1
    assert best["citation"]["doc_id"] == HUANG_DOC
    assert "avaliaram mal a situação" in best["text"] or "entenderam tudo errado" in best["text"]
    assert best["citation"]["title"].startswith("CEO da NVIDIA, Jensen Huang")
    assert best["citation"]["source"].endswith(HUANG_DOC)
    assert best["chunk_id"].startswith(HUANG_DOC + "#")


def test_every_citation_slices_the_original_file_exactly(client):
    response = client.post(
        "/query", json={"question": "DeepSeek R1 custo de treinamento", "top_k": 50}
    )
    results = response.json()["results"]
    assert results
    for r in results:
        c, h = r["citation"], r["highlight"]
        original = original_text(c["doc_id"])
        assert original[c["char_start"] : c["char_end"]] == r["text"]
        assert original[h["char_start"] : h["char_end"]] == h["text"]
        assert c["char_start"] <= h["char_start"] < h["char_end"] <= c["char_end"]
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert [r["rank"] for r in results] == list(range(1, len(results) + 1))


@pytest.mark.parametrize(
    "payload, field, rule",
    [
        ({"question": ""}, "question", "at least 1 character"),
        ({"question": "   \n\t"}, "question", "not only whitespace"),
        ({"question": "x" * 2001}, "question", "at most 2000 characters"),
        ({"question": "ok", "top_k": 0}, "top_k", "greater than or equal to 1"),
        ({"question": "ok", "top_k": 51}, "top_k", "less than or equal to 50"),
        ({"question": "ok", "top_k": "many"}, "top_k", "valid integer"),
        ({"question": "ok", "k": 3}, "k", "unknown field"),
        ({}, "question", "Field required"),
        ({"question": 42}, "question", "valid string"),
    ],
)
def test_bad_requests_are_422_naming_field_and_rule(client, payload, field, rule):
    response = client.post("/query", json=payload)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["field"] == field
    assert error["message"].startswith(field + ":"), error
    assert rule in error["message"]


def test_body_that_is_not_json_is_422(client):
    response = client.post(
        "/query", content=b"question=hello", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "not valid JSON" in response.json()["error"]["message"]


def test_question_at_the_length_limit_is_accepted(client):
    response = client.post("/query", json={"question": "NVIDIA " * 285 + "ok", "top_k": 1})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_openapi_documents_the_endpoints(client):
    spec = client.get("/openapi.json").json()
    assert {"/query", "/health", "/documents"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


FILTER_DOCS = [
    {
        "id": "petro",
        "text": "Petrobras teve lucro de R$ 35 bilhões no trimestre, acima do esperado.",
        "source": "agencia",
        "published": "2025-10-30",
        "metadata": {"desk": "eco", "n": 1},
    },
    {
        "id": "vale",
        "text": "A Vale registrou prejuízo no trimestre por causa de Brumadinho.",
        "source": 'jornal "sul"',
        "published": "2025-11-05",
        "metadata": {"desk": "eco", "n": 1.0},
    },
    {
        "id": "clube",
        "text": "O clube anunciou lucro recorde com a venda de jogadores no trimestre.",
        "source": "agencia",
        "metadata": {"desk": "esporte", "n": True},
    },
]


@pytest.fixture(scope="module")
def filter_client(backend_settings, embedder, tmp_path_factory):
    settings = backend_settings.model_copy(update={"index_dir": tmp_path_factory.mktemp("f")})
    service = start_service(settings, embedder)
    with TestClient(create_app(settings, service=service), base_url=LOCAL) as client:
        for doc in FILTER_DOCS:
            assert client.post("/documents", json=doc).status_code == 201
        yield client


@pytest.mark.parametrize(
    "filters, expected",
    [
        ({"doc_id": ["vale", "clube"]}, {"vale", "clube"}),
        ({"doc_id": []}, set()),
        ({"source": "agencia"}, {"petro", "clube"}),
        ({"source": 'jornal "sul"'}, {"vale"}),
        ({"published_after": "2025-11-01"}, {"vale"}),
        ({"published_before": "2025-11-01"}, {"petro"}),  # undated documents never match
        ({"metadata": {"desk": "eco"}}, {"petro", "vale"}),
        ({"metadata": {"n": 1}}, {"petro"}),  # 1, 1.0 and true are three values
        ({"metadata": {"n": 1.0}}, {"vale"}),
        ({"metadata": {"n": True}}, {"clube"}),
        ({"metadata": {"desk": "eco", "n": 1.0}, "source": "agencia"}, set()),
    ],
)
def test_filters_choose_the_documents_before_the_top_k(filter_client, filters, expected):
    """Every filter, on each vector store: the store applies it before its top-k, so a
    narrow filter still fills the list from the documents it accepts."""
    body = {"question": "lucro no trimestre", "top_k": 10, "filters": filters}
    response = filter_client.post("/query", json=body)
    assert response.status_code == 200, response.text
    assert {r["citation"]["doc_id"] for r in response.json()["results"]} == expected
    # the dense retriever alone: only the vector store filters
    service = filter_client.app.state.service
    parsed = QueryFilters.model_validate(filters).to_filters()
    hits = service.ask("lucro no trimestre", 10, "dense", parsed).result.hits
    assert {h.document.doc_id for h in hits} == expected
