from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from qa.api.deps import ServiceDep
from qa.api.schemas import Citation, ErrorBody, Highlight, QueryRequest, QueryResponse, QueryResult
from qa.search import Answer

router = APIRouter(tags=["query"])


@router.post(
    "/query",
    response_model=QueryResponse,
    responses={503: {"model": ErrorBody, "description": "No index has been built yet."}},
)
async def query(body: QueryRequest, service: ServiceDep) -> QueryResponse:
    """The passages that best answer the question, best first, each with an exact citation."""
    filters = body.filters.to_filters() if body.filters is not None else None
    answer = await run_in_threadpool(service.ask, body.question, body.top_k, None, filters)
    return to_response(answer)


def to_response(answer: Answer) -> QueryResponse:
    """The API's view of an :class:`~qa.search.Answer` (also printed by ``qa ask --json``)."""
    return QueryResponse(
        question=answer.question,
        took_ms=round(answer.took_ms, 2),
        results=[
            QueryResult(
                rank=hit.rank,
                score=round(hit.score, 6),
                text=hit.chunk.text,
                chunk_id=hit.chunk.chunk_id,
                highlight=Highlight(
                    char_start=hit.highlight[0],
                    char_end=hit.highlight[1],
                    text=hit.document.text[hit.highlight[0] : hit.highlight[1]],
                ),
                citation=Citation(
                    doc_id=hit.document.doc_id,
                    title=hit.document.title,
                    source=hit.document.source,
                    char_start=hit.chunk.char_start,
                    char_end=hit.chunk.char_end,
                ),
            )
            for hit in answer.hits
        ],
    )
