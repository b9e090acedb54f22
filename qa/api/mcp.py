"""The service as a Model Context Protocol server, for agents and AI tools.

Tools: ``ask`` (the answer with its citation, translation and confidence, and the
passages behind it), ``search`` (passages only), ``get_document`` (a document, or the
exact characters a citation names), ``list_documents``; and, for write keys only,
``add_document`` and ``delete_document``. Arguments are validated by the same models as
the HTTP API's bodies, so every path keeps the same rules.

Over HTTP the server is mounted at ``/mcp`` inside the API (streamable HTTP, stateless, so
any replica answers any request): the API's rate limits, body limits and host and origin
checks apply, :class:`KeyedMount` asks for a read key before a message reaches it, and the
writing tools ask for a write key. ``qa mcp`` serves the same tools over stdio to a local
client (read-only unless ``--writes``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from qa import __version__
from qa.api.errors import error_response
from qa.api.schemas import (
    DocumentDetail,
    DocumentIn,
    DocumentInfo,
    QueryFilters,
    QueryRequest,
    WriteResponse,
)
from qa.api.security import KEY_REQUIRED, keys_configured, scope_of
from qa.core.config import Settings
from qa.core.errors import QAError
from qa.service import QAService
from qa.service.limits import DEFAULT_TOP_K, MAX_TOP_K
from qa.service.replies import reply_body

INSTRUCTIONS = (
    "Answers questions, in any language, from a collection of articles, citing the exact "
    "characters of the article each answer comes from. Call `ask` with the user's question "
    "as they wrote it: the reply's `answer` is one or two sentences of an article "
    "(`translation` holds them in the question's language when a translator covers it), "
    "`citation` says where they stand, `confidence` how likely the answer is right, and "
    "`answer` is null when the articles don't say (`answer_note` says why). Quote the "
    "answer and cite it; do not answer from the passages when `answer` is null."
)
MAX_LIST = 1000  # documents one list_documents call returns
READ_ONLY = ToolAnnotations(readOnlyHint=True, openWorldHint=False)

Question = Annotated[str, Field(description="The question, in any language, as the user asked it.")]
TopK = Annotated[
    int, Field(ge=1, le=MAX_TOP_K, description="How many passages to return, best first.")
]
FiltersArg = Annotated[
    QueryFilters | None,
    Field(description="Only cite documents matching all of these (doc ids, source, dates)."),
]
ServiceGetter = Callable[[], QAService]


def build_mcp(service: ServiceGetter, settings: Settings, writes: bool = True) -> MCPServer:
    """The MCP server over ``service()`` (a getter: the API loads the service in its
    lifespan). ``writes``: whether the writing tools exist at all."""
    server: MCPServer = MCPServer(
        name="qa", title="qa — multilingual retrieval QA", version=__version__,
        instructions=INSTRUCTIONS,
    )  # fmt: skip
    _question_tools(server, service)
    _document_tools(server, service)
    if writes:
        _writing_tools(server, service, settings)
    return server


def _question_tools(server: MCPServer, service: ServiceGetter) -> None:
    @server.tool(annotations=READ_ONLY)
    async def ask(
        question: Question, top_k: TopK = DEFAULT_TOP_K, filters: FiltersArg = None
    ) -> dict[str, Any]:
        """Answer a question from the collection: the exact sentence(s) of an article that
        answer it with a citation (doc_id, title, char_start, char_end), a translation into
        the question's language, a confidence in [0, 1], and the passages behind it. The
        answer is null when the articles don't say; answer_note then says why."""
        return await _query(service(), question, top_k, filters, with_answer=True)

    @server.tool(annotations=READ_ONLY)
    async def search(
        question: Question, top_k: TopK = DEFAULT_TOP_K, filters: FiltersArg = None
    ) -> dict[str, Any]:
        """The passages of the collection that best answer a question, best first, each with
        its exact citation and the sentence that matches best (highlight) — no answer."""
        return await _query(service(), question, top_k, filters, with_answer=False)


def _document_tools(server: MCPServer, service: ServiceGetter) -> None:
    @server.tool(annotations=READ_ONLY)
    async def get_document(
        doc_id: Annotated[str, Field(description="The document's id, as citations give it.")],
        char_start: Annotated[
            int | None, Field(ge=0, description="With char_end: only these characters.")
        ] = None,
        char_end: Annotated[
            int | None, Field(ge=0, description="End of the span (exclusive).")
        ] = None,
    ) -> dict[str, Any]:
        """A document's text and metadata; with char_start and char_end, only the exact
        characters a citation names (text[char_start:char_end])."""
        stored = await _call(service().document, doc_id)
        detail = DocumentDetail.from_stored(stored).model_dump(mode="json")
        if char_start is None and char_end is None:
            return detail
        start, end = char_start or 0, len(stored.text) if char_end is None else char_end
        if not start <= end <= len(stored.text):
            raise ToolError(
                f"span {start}:{end} is outside document {doc_id!r} ({len(stored.text)} characters)"
            )
        del detail["text"]
        return {**detail, "char_start": start, "char_end": end, "text": stored.text[start:end]}

    @server.tool(annotations=READ_ONLY)
    async def list_documents(
        offset: Annotated[int, Field(ge=0, description="Skip this many documents.")] = 0,
        limit: Annotated[int, Field(ge=1, le=MAX_LIST, description="At most this many.")] = 100,
    ) -> dict[str, Any]:
        """The collection's documents in the order they were added: id, title, source,
        date, metadata and passage count; total says how many there are in all."""
        documents = await _call(service().documents)
        page = documents[offset : offset + limit]
        return {
            "total": len(documents),
            "documents": [DocumentInfo.from_stored(d).model_dump(mode="json") for d in page],
        }


def _writing_tools(server: MCPServer, service: ServiceGetter, settings: Settings) -> None:
    @server.tool(annotations=ToolAnnotations(readOnlyHint=False, idempotentHint=True))
    async def add_document(
        text: Annotated[str, Field(min_length=1, description="The article, plain text.")],
        ctx: Context,
        title: Annotated[str | None, Field(description="Default: the first line.")] = None,
        doc_id: Annotated[
            str | None, Field(description="Stable id; an existing one is replaced.")
        ] = None,
        source: Annotated[str, Field(description="Where the article comes from.")] = "mcp",
        published: Annotated[str | None, Field(description="Its date, YYYY-MM-DD.")] = None,
    ) -> dict[str, Any]:
        """Add an article to the collection (an existing id is replaced; the same text
        again changes nothing). Needs a write key."""
        _require_write(settings, ctx)
        fields = {"id": doc_id, "title": title, "text": text, "source": source}
        body = _validated(DocumentIn, {**fields, "published": published})
        document = await _call(body.to_document)
        return _written(await _call(service().add, [document]))

    @server.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=True))
    async def delete_document(
        doc_id: Annotated[str, Field(description="The id of the document to delete.")],
        ctx: Context,
    ) -> dict[str, Any]:
        """Delete a document and every trace of it. Needs a write key."""
        _require_write(settings, ctx)
        return _written(await _call(service().delete, [doc_id]))


async def _query(
    service: QAService, question: str, top_k: int, filters: QueryFilters | None, with_answer: bool
) -> dict[str, Any]:
    body = _validated(QueryRequest, {"question": question, "top_k": top_k})
    chosen = filters.to_filters() if filters is not None else None
    reply = await _call(service.ask, body.question, body.top_k, None, chosen, with_answer)
    return reply_body(reply)


async def _call(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` in a worker thread (the service blocks), its errors as the
    tool's error message."""
    try:
        return await anyio.to_thread.run_sync(lambda: function(*args))
    except QAError as exc:
        raise ToolError(str(exc)) from exc


def _validated(model: Any, fields: dict[str, Any]) -> Any:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()
        )
        raise ToolError(problems) from exc


def _written(results: Any) -> dict[str, Any]:
    return WriteResponse.from_results(results, 0.0).model_dump(mode="json", exclude={"took_ms"})


def _require_write(settings: Settings, ctx: Context) -> None:
    if not keys_configured(settings):
        return
    headers = ctx.headers or {}
    if scope_of(settings, headers.get("authorization")) != "write":
        raise ToolError("this tool changes the collection: it needs a write key")


class KeyedMount:
    """The MCP endpoint behind the API's keys: without a read (or write) key, a 401 with
    the API's error body before any message is read."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and keys_configured(self.settings):
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            if scope_of(self.settings, headers.get("authorization")) is None:
                refusal = error_response(401, "unauthorized", KEY_REQUIRED)
                refusal.headers["WWW-Authenticate"] = "Bearer"
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)
