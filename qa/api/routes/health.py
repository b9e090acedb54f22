"""Health and metrics: ``GET /health/live`` (the process answers), ``GET /health/ready``
(an index is loaded and can answer: 503 until then, for orchestrators), ``GET /health``
(what is loaded), ``GET /metrics`` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from qa.api.deps import ServiceDep
from qa.api.errors import documented, error_response, redact
from qa.api.schemas import HealthOut
from qa.api.security import require

router = APIRouter(tags=["service"])


@router.get("/health/live")
def live() -> dict[str, str]:
    """The process is up and answering."""
    return {"status": "alive"}


@router.get("/health/ready", responses=documented(503))
def ready(service: ServiceDep) -> JSONResponse:
    """200 once an index is loaded and can answer; 503 (with the reason) until then."""
    health = service.health()
    if health.status != "ok":
        detail = redact(health.detail or "no index loaded", service.settings)
        return error_response(503, "not_ready", detail)
    return JSONResponse({"status": "ready", "documents": health.documents})


@router.get(
    "/health",
    response_model=HealthOut,
    responses=documented(401, 429),
    dependencies=[Depends(require("read"))],
)
def health(service: ServiceDep) -> HealthOut:
    """Whether the service can answer, with its model and the size of the live index."""
    out = HealthOut.from_health(service.health())
    if out.detail:
        out.detail = redact(out.detail, service.settings)
    return out


@router.get(
    "/metrics",
    responses={200: {"content": {"text/plain": {}}}, **documented(401, 429)},
    dependencies=[Depends(require("read"))],
)
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus metrics: requests by route, method and status; latency by route; the
    live index's documents and passages."""
    registry = request.app.state.metrics.registry
    return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
