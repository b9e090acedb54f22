"""Browser safety: the ``Host`` a request names must be one the service answers to (a page
on another site that resolves its own name to this machine — DNS rebinding — is refused),
and a state-changing request sent by a page of another origin is refused (any page can
send a form POST; only the service's own pages and ``QA_CORS_ORIGINS`` may change
documents). Requests without an ``Origin`` (curl, scripts, servers) are left to the keys.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa.api.errors import error_response

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READS_BY_POST = frozenset({"/query"})  # a question travels in a body but changes nothing
# Probes answer whatever Host they name: an orchestrator asks the pod's address, and they
# return nothing a rebinding page could use.
PROBES = frozenset({"/health/live", "/health/ready"})


def host_name(host: str) -> str:
    """``host`` without its port (``[::1]:8000`` -> ``::1``)."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class BrowserGuard:
    def __init__(
        self, app: ASGIApp, allowed_hosts: Collection[str], cors_origins: Collection[str]
    ) -> None:
        self.app = app
        self.hosts = {h.lower() for h in allowed_hosts}
        self.origins = {o.rstrip("/").lower() for o in cors_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        probe = scope["path"] in PROBES
        if not probe and "*" not in self.hosts and host_name(host).lower() not in self.hosts:
            response = error_response(
                400,
                "invalid_host",
                f"this service does not answer to the host {host!r}; add it to QA_ALLOWED_HOSTS",
            )
            await response(scope, receive, send)
            return
        origin = headers.get("origin")
        changes = scope["method"] in STATE_CHANGING and scope["path"] not in READS_BY_POST
        if origin is not None and changes:
            own = f"{scope.get('scheme', 'http')}://{host}".lower()
            if origin.rstrip("/").lower() not in {own, *self.origins}:
                response = error_response(
                    403,
                    "forbidden",
                    f"a page of {origin} may not change documents here; add its origin to "
                    "QA_CORS_ORIGINS to allow it",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class AllowedMethods:
    """``OPTIONS`` on any path answers 204 with the methods the path takes in ``Allow``
    (a CORS preflight is answered before, by the CORS middleware)."""

    def __init__(self, app: ASGIApp, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app, self.routes = app, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "OPTIONS":
            await self.app(scope, receive, send)
            return
        methods = {
            method
            for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
            if any(r.matches({**scope, "method": method})[0] == Match.FULL for r in self.routes())
        }
        if not methods:
            await self.app(scope, receive, send)
            return
        allow = ", ".join(sorted(methods | {"OPTIONS"}))
        await Response(status_code=204, headers={"Allow": allow})(scope, receive, send)


# What the service's pages may load: only its own scripts, styles, images and API. The
# API documentation pages run an inline script to start and ReDoc a worker; ReDoc's
# footer logo, which would come from its CDN, is not loaded at all.
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
DOCS_POLICY = PAGE_POLICY + "; script-src 'self' 'unsafe-inline'; worker-src 'self' blob:"
DOCS_PREFIXES = ("/docs", "/redoc")


class PagePolicy:
    """A ``Content-Security-Policy`` on every HTML response: a page of the service
    fetches nothing from another site, and no other site may frame it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = DOCS_POLICY if scope["path"].startswith(DOCS_PREFIXES) else PAGE_POLICY

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    headers["Content-Security-Policy"] = policy
            await send(message)

        await self.app(scope, receive, send_with_policy)
