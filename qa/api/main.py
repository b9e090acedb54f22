"""Application factory: the model and index load once, in the lifespan, not per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Match, Route
from starlette.types import Scope

from qa import __version__
from qa.api import errors
from qa.api.limits import BodyLimit, LimitFor
from qa.api.mcp import KeyedMount, build_mcp
from qa.api.observe import Metrics, Observe
from qa.api.origins import AllowedMethods, BrowserGuard, PagePolicy
from qa.api.ratelimit import RateLimits, Throttle
from qa.api.routes import documents, health, pages, query
from qa.core.config import Settings, get_settings
from qa.service import QAService, one_search_thread, start_service
from qa.service.serving import announced

# A multipart upload carries its own framing around the file: the whole body may be this
# many times the file limit (the file itself is checked against the limit).
UPLOAD_FRAMING = 2
# POST /query: a question of 2,000 characters and filters naming up to 1,000 documents fit
# in far less; a larger body is refused before it is parsed.
QUERY_BODY_LIMIT = 64 * 1024
MCP_PATH = "/mcp"


def create_app(
    settings: Settings | None = None, service: QAService | None = None, url: str | None = None
) -> FastAPI:
    """Build the API. Pass ``service`` to reuse an already loaded model and index, and
    ``url`` (``qa serve``) to tell ``qa ask`` on the same index where to ask while the
    app runs."""
    settings = settings or (service.settings if service is not None else get_settings())

    agents = build_mcp(lambda: app.state.service, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        one_search_thread()
        if getattr(app.state, "service", None) is None:
            app.state.service = start_service(settings)
        announcement = announced(settings.index_dir, url) if url else nullcontext()
        with announcement:
            async with agents.session_manager.run():
                yield
        app.state.service.close()

    app = FastAPIOffline(  # /docs and /redoc with their assets served locally
        title="qa — multilingual retrieval QA",
        version=__version__,
        summary="Ask questions in any language; get the exact passages that answer them, cited.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.settings = settings
    errors.install(app)
    _add_middleware(app, settings)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.include_router(query.router)
    app.include_router(health.router)
    app.include_router(documents.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    app.router.routes.append(_mcp_route(agents, settings))
    return app


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    """The layers every request passes, innermost first."""
    app.add_middleware(BodyLimit, limit_for=_body_limits(settings.max_document_bytes))
    app.add_middleware(PagePolicy)  # pages load nothing from other sites
    # OPTIONS says which methods a path takes (inside CORS, which answers preflights)
    app.add_middleware(AllowedMethods, routes=lambda: app.routes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    # a request for another host or from another origin goes no further
    app.add_middleware(
        BrowserGuard, allowed_hosts=settings.allowed_hosts, cors_origins=settings.cors_origins
    )
    # outermost: every request gets an id, a log line and its metrics
    app.state.metrics = Metrics(lambda: _sizes(app))
    app.add_middleware(Observe, metrics=app.state.metrics)
    # before everything: a client over its rate costs as little as possible
    app.add_middleware(
        Throttle,
        limits=RateLimits(settings),
        on_refusal=app.state.metrics.refused,
        pause=settings.rate_limit_pause,
    )


def _mcp_route(agents: Any, settings: Settings) -> Route:
    """``/mcp``: the MCP server's streamable HTTP endpoint (stateless: any replica answers
    any message), behind the API's keys; the API's middleware checks hosts and origins."""
    endpoint = (
        agents.streamable_http_app(
            streamable_http_path=MCP_PATH,
            stateless_http=True,
            json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        .routes[0]
        .endpoint
    )
    return _Labelled(
        MCP_PATH,
        endpoint=KeyedMount(endpoint, settings),
        methods=["GET", "POST", "DELETE"],
        include_in_schema=False,
    )


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, declaring the bearer key on every operation that can answer
    401 (so that Swagger's Authorize button and generated clients send it)."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "A read or write key of QA_READ_KEYS / QA_WRITE_KEYS.",
        }
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                if "401" in operation.get("responses", {}):
                    operation["security"] = [{"bearer": []}]
        app.openapi_schema = schema
    return app.openapi_schema


class _Labelled(Route):
    """A Starlette route that names itself in the scope as FastAPI's do (the access log
    and metrics label requests by route)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        return match, child if match is Match.NONE else {**child, "route": self}


def _sizes(app: FastAPI) -> tuple[int, int]:
    service: QAService | None = getattr(app.state, "service", None)
    if service is None:
        return 0, 0
    health = service.health()
    return health.documents, health.chunks


def _body_limits(limit: int) -> LimitFor:
    """Document bodies, and MCP messages (one may add a document), at most ``limit`` bytes;
    uploads (the file is checked against ``limit`` itself) ``UPLOAD_FRAMING`` times that; a
    question's, and any other body, ``QUERY_BODY_LIMIT``."""

    def limit_for(method: str, path: str) -> int | None:
        if method not in ("POST", "PUT", "PATCH", "DELETE"):
            return None
        if not path.startswith(("/documents", MCP_PATH)):
            return QUERY_BODY_LIMIT
        return UPLOAD_FRAMING * limit if path.endswith("/upload") else limit

    return limit_for
