from __future__ import annotations

from fastapi import APIRouter

from qa.api.deps import ServiceDep
from qa.api.schemas import DocumentInfo, DocumentList, ErrorBody

router = APIRouter(tags=["documents"])


@router.get(
    "/documents",
    response_model=DocumentList,
    responses={503: {"model": ErrorBody, "description": "No index has been built yet."}},
)
def list_documents(service: ServiceDep) -> DocumentList:
    """The indexed documents."""
    index = service.require_index()
    return DocumentList(
        documents=[
            DocumentInfo(doc_id=d.doc_id, title=d.title, source=d.source, chunks=d.n_chunks)
            for d in index.documents.values()
        ]
    )
