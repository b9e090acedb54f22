"""Application factory: the model and index load once, in the lifespan, not per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import faiss
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from qa import __version__
from qa.api.routes import documents, health, query
from qa.core.config import Settings, get_settings
from qa.core.errors import (
    DocumentNotFoundError,
    IndexBusyError,
    IndexMismatchError,
    IndexNotFoundError,
    IngestError,
    UnsupportedFileTypeError,
    VectorStoreError,
)
from qa.service import QAService


def _describe(error: dict) -> str:
    loc = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
    msg = error.get("msg", "invalid")
    if error.get("type") == "extra_forbidden":
        msg = "unknown field; see /docs for the accepted fields"
    elif error.get("type") == "json_invalid":
        msg = "request body is not valid JSON"
    return f"{loc}: {msg}"


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    return JSONResponse(
        status_code=422,
        content={
            "message": "; ".join(_describe(e) for e in errors),
            "detail": [
                {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
                for e in errors
            ],
        },
    )


async def _no_index(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=503, content={"detail": str(exc)})


def _status(code: int):
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=code, content={"detail": str(exc)})

    return handler


def create_app(settings: Settings | None = None, service: QAService | None = None) -> FastAPI:
    """Build the API. Pass ``service`` to reuse an already loaded model and index."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One FAISS thread per query: queries already run side by side, and OpenMP threads
        # spinning against the model's own threads made one exact search 6x slower on two
        # busy cores (eval/BENCH.md measures the vector index this way).
        faiss.omp_set_num_threads(1)
        if getattr(app.state, "service", None) is None:
            app.state.service = QAService.start(settings or get_settings())
        yield

    app = FastAPI(
        title="qa — multilingual retrieval QA",
        version=__version__,
        summary="Ask questions in any language; get the exact passages that answer them, cited.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(IndexNotFoundError, _no_index)
    app.add_exception_handler(IndexMismatchError, _no_index)
    app.add_exception_handler(IndexBusyError, _no_index)
    app.add_exception_handler(VectorStoreError, _no_index)
    app.add_exception_handler(DocumentNotFoundError, _status(404))
    app.add_exception_handler(UnsupportedFileTypeError, _status(415))
    app.add_exception_handler(IngestError, _status(400))
    app.include_router(query.router)
    app.include_router(health.router)
    app.include_router(documents.router)
    return app
