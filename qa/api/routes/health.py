from __future__ import annotations

from fastapi import APIRouter

from qa.api.deps import ServiceDep
from qa.api.schemas import Health

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health)
def health(service: ServiceDep) -> Health:
    """Whether the service can answer, with its model and the size of the live index."""
    index = service.index
    if index is None:
        return Health(
            status="no_index",
            model=service.embedder.name,
            vector_store=service.settings.vector_store,
            documents=0,
            chunks=0,
            detail=service.index_error,
        )
    with index.lock.read():
        return Health(
            status="ok",
            model=service.embedder.name,
            vector_store=index.backend.kind,
            documents=len(index.documents),
            chunks=len(index.chunks),
        )
