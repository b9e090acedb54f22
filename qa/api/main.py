"""Application factory: the model and index load once, in the lifespan, not per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from qa import __version__
from qa.api import errors
from qa.api.limits import BodyLimit, LimitFor
from qa.api.routes import documents, health, pages, query
from qa.core.config import Settings, get_settings
from qa.service import QAService

# A multipart upload carries its own framing around the file: the whole body may be this
# many times the file limit (the file itself is checked against the limit).
UPLOAD_FRAMING = 2


def create_app(settings: Settings | None = None, service: QAService | None = None) -> FastAPI:
    """Build the API. Pass ``service`` to reuse an already loaded model and index."""
    settings = settings or (service.settings if service is not None else get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import faiss

        # One FAISS thread per query: queries already run side by side, and OpenMP threads
        # spinning against the model's own threads slow an exact search several times over
        # on two busy cores.
        faiss.omp_set_num_threads(1)
        if getattr(app.state, "service", None) is None:
            app.state.service = QAService.start(settings)
        yield

    app = FastAPIOffline(  # /docs and /redoc with their assets served locally
        title="qa — multilingual retrieval QA",
        version=__version__,
        summary="Ask questions in any language; get the exact passages that answer them, cited.",
        lifespan=lifespan,
    )
    app.state.service = service
    errors.install(app)
    app.add_middleware(BodyLimit, limit_for=_body_limits(settings.max_document_bytes))
    app.include_router(query.router)
    app.include_router(health.router)
    app.include_router(documents.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    return app


def _body_limits(limit: int) -> LimitFor:
    """Document bodies at most ``limit`` bytes; uploads (the file is checked against
    ``limit`` itself) ``UPLOAD_FRAMING`` times that."""

    def limit_for(method: str, path: str) -> int | None:
        if method not in ("POST", "PUT") or not path.startswith("/documents"):
            return None
        return UPLOAD_FRAMING * limit if path.endswith("/upload") else limit

    return limit_for
