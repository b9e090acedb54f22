"""``POST /query``: the passages that answer a question."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from qa.api.deps import ServiceDep
from qa.api.errors import documented
from qa.api.schemas import QueryRequest, QueryResponse
from qa.api.security import require

router = APIRouter(tags=["query"])


@router.post(
    "/query",
    response_model=QueryResponse,
    responses=documented(400, 401, 413, 422, 429, 503),
    dependencies=[Depends(require("read"))],
)
async def query(body: QueryRequest, service: ServiceDep, request: Request) -> QueryResponse:
    """The answer to the question (or null when the articles don't say) and the passages
    that best answer it, best first, each with an exact citation."""
    filters = body.filters.to_filters() if body.filters is not None else None
    reply = await run_in_threadpool(
        service.ask, body.question, body.top_k, None, filters, body.answer
    )
    request.app.state.metrics.observe_stages(reply.stages_ms)
    return QueryResponse.from_reply(reply)
