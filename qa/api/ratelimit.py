"""Rate limits per client, refused before anything else runs.

A client is a known key's holder, or an address (no key, or a key the service does not
know: inventing keys buys no new windows). Reads count against ``QA_RATE_LIMIT``, writes
against ``QA_WRITE_RATE_LIMIT``, and a key named in ``QA_KEY_RATE_LIMITS`` against its own
limit instead: moving windows of the ``limits`` library, in its notation (``"120/minute"``).
Over the limit: 429 with ``Retry-After``, after a pause (``QA_RATE_LIMIT_PAUSE``, at most
the time to the client's next slot): a client that ignores ``Retry-After`` and asks again at
once gets a few refusals a second per connection, not thousands, so refusing it costs the
server next to nothing.

:class:`Throttle` is the outermost middleware, so a flood costs the server as little as it
can: no routing, no body, no per-request log line (refusals are logged once per client and
interval, and counted in ``qa_rate_limited_total``). Counters live in the process (one
replica's share).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from typing import Literal

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from qa.api.deps import prefers_html
from qa.api.origins import READS_BY_POST, STATE_CHANGING
from qa.core.config import Settings

log = logging.getLogger("qa.access")
Kind = Literal["read", "write", "free"]
# Paths read and write limits leave alone — probes, the pages and their assets, the API's
# own documentation — count against the looser ``QA_FREE_RATE_LIMIT``.
FREE_PREFIXES = ("/health/live", "/health/ready", "/static/", "/docs", "/redoc", "/openapi.json")
# Paths that answer a browser with a page (no data) rather than JSON.
PAGE_PREFIXES = ("/documents",)
# A client's refusals make one log line per this many seconds, not one per request.
LOG_EVERY = 10.0
# Past this many refused clients remembered, the ones whose wait is over are forgotten
# (many addresses must not grow the process without bound).
REMEMBERED = 10_000


def kind_of(method: str, path: str, accept: str) -> Kind:
    """Which limit a request counts against."""
    if method == "OPTIONS" or path.startswith(FREE_PREFIXES) or path == "/":
        return "free"
    if method in STATE_CHANGING and path not in READS_BY_POST and path != "/mcp":
        return "write"  # MCP messages count as reads, whichever tool they call
    if method == "GET" and prefers_html(accept) and path.startswith(PAGE_PREFIXES):
        return "free"  # a page holds no data; its script's requests are counted
    return "read"


class RateLimits:
    """The windows of every client, and who a request counts against."""

    def __init__(self, settings: Settings) -> None:
        self.defaults: dict[Kind, RateLimitItem | None] = {
            "read": parse(settings.rate_limit) if settings.rate_limit else None,
            "write": parse(settings.write_rate_limit) if settings.write_rate_limit else None,
            "free": parse(settings.free_rate_limit) if settings.free_rate_limit else None,
        }
        self.own = {_digest(k): parse(v) for k, v in settings.key_rate_limits.items()}
        self.known = {_digest(k) for k in (*settings.read_keys, *settings.write_keys)}
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.refused_until: dict[tuple[Kind, str], float] = {}
        self.refusals: dict[str, int] = {}
        self.logged_at: dict[str, float] = {}

    @property
    def active(self) -> bool:
        return any(self.defaults.values()) or bool(self.own)

    def client(self, authorization: str | None, address: str) -> str:
        """Who a request counts against: a known key (by its digest), else the address."""
        if authorization:
            kind, _, key = authorization.partition(" ")
            digest = _digest(key.strip())
            if kind.lower() == "bearer" and digest in self.known:
                return "key:" + digest
        return "addr:" + address

    def wait(self, kind: Kind, who: str) -> tuple[int, RateLimitItem] | None:
        """Count one request; ``None`` when it may go on, else the seconds to wait and the
        limit it is over."""
        own = self.own.get(who.removeprefix("key:")) if kind != "free" else None
        item = own or self.defaults[kind]
        if item is None:
            return None
        now = time.time()
        until = self.refused_until.get((kind, who), 0.0)
        if now < until:  # the window is full until then: no need to ask the limiter
            return max(1, math.ceil(until - now)), item
        if self.limiter.hit(item, kind, who):
            return None
        reset = self.limiter.get_window_stats(item, kind, who).reset_time
        if len(self.refused_until) >= REMEMBERED:
            self.refused_until = {c: t for c, t in self.refused_until.items() if t > now}
        self.refused_until[(kind, who)] = reset
        return max(1, math.ceil(reset - now)), item

    def note_refusal(self, who: str) -> None:
        """Log a client's refusals once per ``LOG_EVERY`` seconds."""
        self.refusals[who] = self.refusals.get(who, 0) + 1
        now = time.time()
        if now - self.logged_at.get(who, 0.0) >= LOG_EVERY:
            if len(self.logged_at) >= REMEMBERED:
                self.logged_at = {c: t for c, t in self.logged_at.items() if now - t < LOG_EVERY}
                self.refusals = {c: n for c, n in self.refusals.items() if c in self.logged_at}
                self.refusals[who] = self.refusals.get(who, 0) + 1
            count = self.refusals.pop(who)
            self.logged_at[who] = now
            fields = {"client": who, "refused": count, "status": 429}
            log.info(
                "rate limit: refused %d request(s) of %s", count, who, extra={"fields": fields}
            )


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class Throttle:
    """ASGI middleware answering 429 to clients over their rate before the app sees them."""

    def __init__(
        self,
        app: ASGIApp,
        limits: RateLimits,
        on_refusal: Callable[[Kind], None],
        pause: float = 0.0,
    ) -> None:
        self.app, self.limits, self.on_refusal, self.pause = app, limits, on_refusal, pause

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limits.active:
            await self.app(scope, receive, send)
            return
        authorization = accept = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"accept":
                accept = value.decode("latin-1")
        kind = kind_of(scope["method"], scope["path"], accept or "")
        client = scope.get("client")
        who = self.limits.client(authorization, client[0] if client else "unknown")
        refused = self.limits.wait(kind, who)
        if refused is None:
            await self.app(scope, receive, send)
            return
        seconds, item = refused
        self.on_refusal(kind)
        self.limits.note_refusal(who)
        if self.pause > 0:
            await asyncio.sleep(min(self.pause, seconds))
        await _too_many(send, seconds, item)


async def _too_many(send: Send, seconds: int, item: RateLimitItem) -> None:
    message = f"too many requests: at most {item} per client; retry in {seconds} s"
    body = json.dumps({"error": {"code": "too_many_requests", "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(seconds).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
