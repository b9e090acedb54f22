"""Dependencies shared by the route modules."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from qa.service import QAService


def get_service(request: Request) -> QAService:
    service: QAService = request.app.state.service
    return service


ServiceDep = Annotated[QAService, Depends(get_service)]


def wants_html(request: Request) -> bool:
    """Whether the client prefers a page to JSON (a browser navigating, not ``fetch``)."""
    return prefers_html(request.headers.get("accept", ""))


def prefers_html(accept: str) -> bool:
    """Whether an ``Accept`` header asks for a page before JSON."""
    return "text/html" in accept and "application/json" not in accept.split(",")[0]
