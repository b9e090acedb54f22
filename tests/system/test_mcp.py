"""Agents over MCP, with the SDK's own client: a real ``qa serve`` at /mcp (streamable HTTP,
behind keys) and ``qa mcp`` over stdio."""

from __future__ import annotations

import os
import sys
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from qa.testing import running_server
from tests.helpers import HUANG_DOC, HUANG_SAYS, original_text

READ, WRITE = "mcp-read-key", "mcp-write-key"
QUESTION = "What did Huang say about investors?"


def http_session(url: str, key: str | None, steps: Any) -> Any:
    async def run() -> Any:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=120) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            return await steps(client)

    return anyio.run(run)


async def ask_huang(client: Client) -> tuple[set[str], Any, Any]:
    tools = {tool.name for tool in (await client.list_tools()).tools}
    asked = await client.call_tool("ask", {"question": QUESTION})
    deleted = await client.call_tool("delete_document", {"doc_id": HUANG_DOC})
    return tools, asked, deleted


def check_cited_answer(body: dict[str, Any]) -> None:
    answer = body["answer"]
    assert answer is not None, body["answer_note"]
    c = answer["citation"]
    assert c["doc_id"] == HUANG_DOC
    assert original_text(HUANG_DOC)[c["char_start"] : c["char_end"]] == answer["text"]
    assert "investor" in answer["translation"]["text"].lower()


def test_an_agent_asks_a_served_index_over_http_with_a_key(settings, seed_index):
    env = {"QA_READ_KEYS": READ, "QA_WRITE_KEYS": WRITE}
    with running_server(settings.index_dir, **env) as (base, _):
        tools, asked, deleted = http_session(base + "/mcp", READ, ask_huang)
        assert {"ask", "search", "get_document", "list_documents", "add_document"} <= tools
        check_cited_answer(asked.structured_content)
        assert deleted.is_error and "write key" in deleted.content[0].text  # a read key
        # no key: the client cannot even connect, and the HTTP answer says why
        with pytest.raises(ExceptionGroup) as refused:
            http_session(base + "/mcp", None, ask_huang)
        assert refused.group_contains(MCPError, depth=2)
        plain = httpx.post(base + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert plain.status_code == 401 and "Bearer" in plain.json()["error"]["message"]


def test_a_local_agent_asks_over_stdio(settings, seed_index):
    async def run() -> Any:
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "qa.cli", "mcp", "--index-dir", str(settings.index_dir)],
            env={**os.environ},
        )
        async with Client(params) as client:
            return await ask_huang(client)

    tools, asked, deleted = anyio.run(run)
    assert tools == {"ask", "search", "get_document", "list_documents"}  # read-only by default
    check_cited_answer(asked.structured_content)
    assert any(words in asked.structured_content["answer"]["text"] for words in HUANG_SAYS) or (
        "equívocos" in asked.structured_content["answer"]["text"]
    )
    assert deleted.is_error  # no such tool
