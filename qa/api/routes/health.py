"""``GET /health``: whether the service can answer."""

from __future__ import annotations

from fastapi import APIRouter

from qa.api.deps import ServiceDep
from qa.api.schemas import HealthOut

router = APIRouter(tags=["service"])


@router.get("/health", response_model=HealthOut)
def health(service: ServiceDep) -> HealthOut:
    """Whether the service can answer, with its model and the size of the live index."""
    return HealthOut.from_health(service.health())
