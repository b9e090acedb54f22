"""Dependencies shared by the route modules."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from qa.service import QAService


def get_service(request: Request) -> QAService:
    service: QAService = request.app.state.service
    return service


ServiceDep = Annotated[QAService, Depends(get_service)]
