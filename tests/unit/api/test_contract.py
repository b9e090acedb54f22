"""The API's contract: a valid OpenAPI document that describes every body, and one error
body shape for every failure."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from tests.helpers import HUANG_DOC

ERROR_REF = "#/components/schemas/ErrorBody"


def test_openapi_validates_and_documents_every_body_and_error(client):
    spec = client.get("/openapi.json").json()
    validate(spec)  # every $ref resolves, the document is OpenAPI 3
    paths = spec["paths"]
    assert {"/query", "/health", "/documents", "/documents/{doc_id}"} <= set(paths)
    json_body = paths["/documents"]["post"]["requestBody"]["content"]["application/json"]
    assert json_body["schema"] == {"$ref": "#/components/schemas/DocumentIn"}
    assert "application/json" in paths["/documents/{doc_id}"]["put"]["requestBody"]["content"]
    for path in ("/documents/upload", "/documents/{doc_id}/upload"):
        (operation,) = paths[path].values()
        assert set(operation["requestBody"]["content"]) == {"multipart/form-data"}
    for path, operations in paths.items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": ERROR_REF}, (method, path, status)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    "method, path, kwargs, status, code",
    [
        ("GET", "/nowhere", {}, 404, "not_found"),
        ("DELETE", "/query", {}, 405, "method_not_allowed"),
        ("POST", "/query", {"json": {"question": "ok", "top_k": 99}}, 422, "invalid_request"),
        ("GET", "/documents/unknown", {}, 404, "not_found"),
        ("POST", "/documents", {"json": {"text": "Deixe um comentário"}}, 400, "invalid_document"),
        (
            "POST",
            "/documents",
            {"files": {"file": ("a.txt", b"text", "text/plain")}},
            422,
            "invalid_request",
        ),
        (
            "POST",
            "/documents/upload",
            {"files": {"file": ("a.rtf", b"{\\rtf1 Ol\\'e1}", "application/rtf")}},
            415,
            "unsupported_media_type",
        ),
    ],
)
def test_every_error_has_the_one_body_shape(client, method, path, kwargs, status, code):
    response = client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert body["error"]["message"] and set(body["error"]) <= {"code", "message", "field"}


def test_an_upload_replaces_a_document_and_a_jsonl_upload_adds_many(client):
    files = {"file": ("nota.txt", "Nota\n\nA fábrica de chips fica em Manaus.", "text/plain")}
    assert client.post("/documents/upload", files=files).status_code == 201
    new = {"file": ("nota.txt", "Nota\n\nA fábrica de baterias fica em Campinas.", "text/plain")}
    replaced = client.put("/documents/nota.txt/upload", files=new)
    assert replaced.status_code == 200 and replaced.json()["documents"][0]["status"] == "updated"
    assert client.get("/documents/nota.txt").json()["characters"] == len(new["file"][1])
    lines = '{"id": "a", "text": "Um texto."}\n{"id": "b", "text": "Outro texto."}\n'
    added = client.post("/documents/upload", files={"file": ("two.jsonl", lines, "text/plain")})
    assert [d["doc_id"] for d in added.json()["documents"]] == ["a", "b"]
    missing = client.put("/documents/nope/upload", files=new)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    for doc_id in ("nota.txt", "a", "b"):
        assert client.delete(f"/documents/{doc_id}").status_code == 200
    assert {d["doc_id"] for d in client.get("/documents").json()["documents"]} == {
        HUANG_DOC,
        "002_50e6e5fcbdbef445.txt",
    }


def test_a_body_over_the_limit_is_refused_before_it_is_read(client, service):
    limit = service.settings.max_document_bytes
    huge = {"text": "x" * (limit + 1)}
    response = client.post("/documents", json=huge)
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "payload_too_large",
        "message": f"request body is larger than the limit of {limit} bytes",
    }

    def chunks():  # no content-length: the body is counted as it streams
        yield b'{"text": "'
        for _ in range(limit // 65536 + 1):
            yield b"x" * 65536

    response = client.post(
        "/documents", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413 and "limit" in response.json()["error"]["message"]
