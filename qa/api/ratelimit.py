"""Rate limits per client: a key's holder, or an address when no key is sent. A moving
window of ``QA_RATE_LIMIT`` requests (reads) and ``QA_WRITE_RATE_LIMIT`` (writes) — the
``limits`` library's strategies and notation (``"120/minute"``) — then 429 with
``Retry-After``. Counters live in the process (one replica's share)."""

from __future__ import annotations

import hashlib
import math
import time

from fastapi import Request
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.exceptions import HTTPException

from qa.core.config import Settings


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        self.items = {
            "read": parse(settings.rate_limit) if settings.rate_limit else None,
            "write": parse(settings.write_rate_limit) if settings.write_rate_limit else None,
        }
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, scope: str, request: Request) -> None:
        """Count this request against its client's window; 429 when the window is full."""
        item = self.items[scope]
        if item is None:
            return
        who = client_of(request)
        if self.limiter.hit(item, scope, who):
            return
        reset = self.limiter.get_window_stats(item, scope, who).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        raise HTTPException(
            429,
            f"too many requests: at most {item} per client; retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )


def client_of(request: Request) -> str:
    """Who a request counts against: its key (hashed), else its address."""
    authorization = request.headers.get("authorization")
    if authorization:
        return "key:" + hashlib.sha256(authorization.encode()).hexdigest()[:16]
    return "addr:" + (request.client.host if request.client else "unknown")
