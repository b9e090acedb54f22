"""``POST /query``: the passages that answer a question."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from qa.api.deps import ServiceDep
from qa.api.errors import documented
from qa.api.schemas import QueryRequest, QueryResponse

router = APIRouter(tags=["query"])


@router.post("/query", response_model=QueryResponse, responses=documented(422, 503))
async def query(body: QueryRequest, service: ServiceDep) -> QueryResponse:
    """The passages that best answer the question, best first, each with an exact citation."""
    filters = body.filters.to_filters() if body.filters is not None else None
    result = await run_in_threadpool(service.ask, body.question, body.top_k, None, filters)
    return QueryResponse.from_result(result)
