"""Request body limits, answered in the API's error shape.

A body whose declared length is over the limit is refused before it is read; one that
streams past it is cut off as soon as it does (413 ``payload_too_large`` either way).
Starlette's own limiter answers in plain text, so this small middleware stands in for it.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa.api.errors import error_response

LimitFor = Callable[[str, str], int | None]  # (method, path) -> bytes, or None for no limit


def too_large(limit: int) -> str:
    return f"request body is larger than the limit of {limit} bytes"


class BodyLimit:
    def __init__(self, app: ASGIApp, limit_for: LimitFor) -> None:
        self.app, self.limit_for = app, limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit_for(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = error_response(413, "payload_too_large", too_large(limit))
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:  # handled by the API's error handlers
                raise HTTPException(413, too_large(limit))
            return message

        await self.app(scope, limited, send)
