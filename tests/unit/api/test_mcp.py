"""The MCP server: its tools over the service (the SDK's own client, in process), and the
``/mcp`` endpoint behind the API's keys and origin checks."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from mcp import Client
from mcp.types import CallToolResult

from qa.api import create_app
from qa.api.mcp import build_mcp
from qa.service import QAService, start_service
from tests.helpers import HUANG_DOC, LOCAL, original_text

READ, WRITE = "read-key-1", "write-key-1"
TOOLS = {"ask", "search", "get_document", "list_documents"}


def call(server: Any, tool: str, arguments: dict[str, Any]) -> CallToolResult:
    async def run() -> CallToolResult:
        async with Client(server) as client:
            return await client.call_tool(tool, arguments)

    return anyio.run(run)


def listed(server: Any) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        async with Client(server) as client:
            return {tool.name: tool for tool in (await client.list_tools()).tools}

    return anyio.run(run)


def error_text(result: CallToolResult) -> str:
    assert result.is_error
    return " ".join(getattr(block, "text", "") for block in result.content)


@pytest.fixture(scope="module")
def reader(service: QAService) -> Any:
    return build_mcp(lambda: service, service.settings, writes=False)


def test_tools_are_described_for_a_model_that_never_read_our_docs(service, reader) -> None:
    tools = listed(reader)
    assert set(tools) == TOOLS  # writes are offered only when asked for
    assert set(listed(build_mcp(lambda: service, service.settings))) == TOOLS | {
        "add_document",
        "delete_document",
    }
    for tool in tools.values():
        assert tool.description and len(tool.description) > 60
        assert tool.annotations is not None and tool.annotations.read_only_hint
        for name, schema in tool.input_schema["properties"].items():
            assert schema.get("description"), (tool.name, name)
    assert tools["ask"].input_schema["required"] == ["question"]


def test_ask_returns_the_apis_reply_with_exact_citations(reader) -> None:
    result = call(reader, "ask", {"question": "what did Huang say about investors?", "top_k": 3})
    assert not result.is_error
    body = result.structured_content
    assert set(body) >= {"question", "answer", "answer_note", "results", "took_ms"}
    assert len(body["results"]) == 3
    for hit in body["results"]:
        c = hit["citation"]
        assert original_text(c["doc_id"])[c["char_start"] : c["char_end"]] == hit["text"]
    if body["answer"] is not None:
        c = body["answer"]["citation"]
        assert original_text(c["doc_id"])[c["char_start"] : c["char_end"]] == body["answer"]["text"]
    passages = call(reader, "search", {"question": "DeepSeek", "top_k": 2}).structured_content
    assert passages["answer"] is None and len(passages["results"]) == 2


def test_ask_keeps_the_apis_rules(reader) -> None:
    assert "question" in error_text(call(reader, "ask", {"question": ""}))
    assert "top_k" in error_text(call(reader, "ask", {"question": "Huang?", "top_k": 51}))
    filtered = call(reader, "ask", {"question": "Huang", "filters": {"doc_id": [HUANG_DOC]}})
    assert {h["citation"]["doc_id"] for h in filtered.structured_content["results"]} == {HUANG_DOC}
    assert "filters.x" in error_text(call(reader, "ask", {"question": "x", "filters": {"x": 1}}))


def test_documents_and_cited_spans(reader) -> None:
    listing = call(reader, "list_documents", {"limit": 1}).structured_content
    assert listing["total"] == 2 and len(listing["documents"]) == 1
    text = original_text(HUANG_DOC)
    whole = call(reader, "get_document", {"doc_id": HUANG_DOC}).structured_content
    assert whole["text"] == text
    span = call(reader, "get_document", {"doc_id": HUANG_DOC, "char_start": 10, "char_end": 40})
    assert span.structured_content["text"] == text[10:40]
    outside = {"doc_id": HUANG_DOC, "char_start": 5, "char_end": len(text) + 1}
    assert "outside" in error_text(call(reader, "get_document", outside))
    assert "no-such" in error_text(call(reader, "get_document", {"doc_id": "no-such"}))


def test_writing_tools_need_a_write_key(service: QAService) -> None:
    keyed = service.settings.model_copy(update={"read_keys": [READ], "write_keys": [WRITE]})
    server = build_mcp(lambda: service, keyed)
    refused = call(server, "delete_document", {"doc_id": HUANG_DOC})
    assert "write key" in error_text(refused)
    assert HUANG_DOC in {d.doc_id for d in service.documents()}  # nothing was deleted
    bad = call(server, "add_document", {"text": "Um artigo.", "doc_id": "a/../b"})
    assert "write key" in error_text(bad)  # refused before anything is read


def test_the_endpoint_asks_for_a_key_and_a_local_origin(service: QAService) -> None:
    keyed = service.settings.model_copy(update={"read_keys": [READ], "write_keys": [WRITE]})
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    with TestClient(create_app(keyed, service=service), base_url=LOCAL) as client:
        missing = client.post("/mcp", json=message)
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
        assert client.post("/mcp", json=message, headers={"Authorization": "Bearer x"}).is_error
        foreign = client.post(
            "/mcp",
            json=message,
            headers={"Authorization": f"Bearer {READ}", "Origin": "https://evil.example"},
        )
        assert foreign.status_code == 403
        assert client.options("/mcp").headers["allow"] == "DELETE, GET, HEAD, OPTIONS, POST"


def test_a_write_key_adds_and_deletes(settings, embedder, tmp_path) -> None:
    own = start_service(settings.model_copy(update={"index_dir": tmp_path / "index"}), embedder)
    server = build_mcp(lambda: own, own.settings)  # no keys configured: an open local service
    story = "A fábrica de chips em Manaus vai dobrar a produção e criar 3.000 empregos diretos."
    added = call(server, "add_document", {"text": story, "doc_id": "news/manaus"})
    assert added.structured_content["documents"] == [
        {"doc_id": "news/manaus", "status": "new", "chunks": 1}
    ]
    span = call(server, "get_document", {"doc_id": "news/manaus", "char_start": 2, "char_end": 9})
    assert span.structured_content["text"] == story[2:9]
    assert "'..'" in error_text(call(server, "add_document", {"text": story, "doc_id": "a/../b"}))
    assert "published" in error_text(
        call(server, "add_document", {"text": story, "published": "soon"})
    )
    deleted = call(server, "delete_document", {"doc_id": "news/manaus"})
    assert deleted.structured_content["documents"][0]["status"] == "deleted"
    assert call(server, "list_documents", {}).structured_content["total"] == 0
