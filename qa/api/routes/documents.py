"""The collection: list, read, add, replace and delete articles."""

from __future__ import annotations

import time
from datetime import date

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from qa.api.deps import ServiceDep
from qa.api.schemas import (
    DocumentDetail,
    DocumentIn,
    DocumentInfo,
    DocumentList,
    ErrorBody,
    WriteResponse,
    WriteResultOut,
)
from qa.collection import WriteResult
from qa.core.errors import DocumentNotFoundError, IngestError, UnsupportedFileTypeError
from qa.ingest import (
    Document,
    content_hash,
    documents_from_file,
    make_text_document,
    validate_new_doc_id,
)
from qa.service import QAService
from qa.store import StoredDocument

router = APIRouter(tags=["documents"])

NO_INDEX = {503: {"model": ErrorBody, "description": "No index has been built yet."}}
BAD_DOCUMENT = {
    400: {"model": ErrorBody, "description": "Text that cannot be indexed (encoding, empty)."},
    413: {"model": ErrorBody, "description": "Larger than QA_MAX_DOCUMENT_BYTES."},
    415: {"model": ErrorBody, "description": "Unsupported file type."},
}
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/DocumentIn"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


def _info(d: StoredDocument) -> DocumentInfo:
    return DocumentInfo(
        doc_id=d.doc_id,
        title=d.title,
        source=d.source,
        chunks=d.n_chunks,
        published=date.fromisoformat(d.published) if d.published else None,
        metadata=d.metadata,
    )


@router.get("/documents", response_model=DocumentList, responses=NO_INDEX)
def list_documents(service: ServiceDep) -> DocumentList:
    """The indexed documents."""
    index = service.require_index()
    with index.lock.read():
        return DocumentList(documents=[_info(d) for d in index.documents.values()])


@router.get(
    "/documents/{doc_id}",
    response_model=DocumentDetail,
    responses={404: {"model": ErrorBody}, **NO_INDEX},
)
def get_document(doc_id: str, service: ServiceDep) -> DocumentDetail:
    """One document's metadata and passage count."""
    index = service.require_index()
    with index.lock.read():
        doc = index.documents.get(doc_id)
        if doc is None:
            raise DocumentNotFoundError(_unknown(doc_id))
        return DocumentDetail(
            **_info(doc).model_dump(), sha256=doc.sha256, characters=len(doc.text)
        )


def _unknown(doc_id: str) -> str:
    return f"no document with id {doc_id!r} (GET /documents lists the ids)"


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"document is larger than the limit of {limit} bytes")
    data = await request.body()  # kept by the request, so a form can still be parsed
    if len(data) > limit:
        raise HTTPException(413, f"document is larger than the limit of {limit} bytes")
    return data


def _from_json(data: bytes, doc_id: str | None = None) -> Document:
    try:
        body = DocumentIn.model_validate_json(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors()]
        ) from None
    if doc_id is not None and body.id is not None and body.id != doc_id:
        raise IngestError(f"id in the body ({body.id!r}) differs from the URL's ({doc_id!r})")
    chosen = doc_id or body.id or f"doc-{content_hash(body.text)[:16]}"
    return make_text_document(
        validate_new_doc_id(chosen),
        body.text,
        body.source,
        body.title,
        body.published.isoformat() if body.published else None,
        body.metadata,
    )


async def _documents(request: Request, service: QAService, doc_id: str | None) -> list[Document]:
    limit = service.settings.max_document_bytes
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        await _body(request, limit * 2)  # the form's own framing on top of the file
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise IngestError("multipart upload needs a file in the field 'file'")
        data = await upload.read()
        if len(data) > limit:
            raise HTTPException(413, f"document is larger than the limit of {limit} bytes")
        docs = documents_from_file(upload.filename or "upload.txt", data, "upload")
        if doc_id is not None:
            if len(docs) != 1:
                raise IngestError("PUT /documents/{id} takes one document, not a .jsonl file")
            docs = [make_text_document(doc_id, docs[0].text, "upload", docs[0].title)]
        return docs
    if content_type in ("application/json", ""):
        return [_from_json(await _body(request, limit), doc_id)]
    raise UnsupportedFileTypeError(
        f"unsupported content type {content_type!r}; send application/json or a "
        "multipart/form-data upload"
    )


def _response(results: list[WriteResult], started: float) -> WriteResponse:
    return WriteResponse(
        documents=[
            WriteResultOut(doc_id=r.doc_id, status=r.status, chunks=r.chunks) for r in results
        ],
        took_ms=round((time.perf_counter() - started) * 1000, 2),
    )


@router.post(
    "/documents",
    response_model=WriteResponse,
    status_code=201,
    openapi_extra=UPLOAD_BODY,
    responses={200: {"model": WriteResponse, "description": "Nothing new."}, **BAD_DOCUMENT},
)
async def add_documents(request: Request, response: Response, service: ServiceDep) -> WriteResponse:
    """Add an article (JSON) or the articles of an uploaded file (.txt, .md, .html, .jsonl).
    A document with an existing id replaces it; identical content changes nothing. The
    answer comes once the change is on disk."""
    started = time.perf_counter()
    docs = await _documents(request, service, None)
    results = await run_in_threadpool(service.upsert, docs)
    if not any(r.status == "new" for r in results):
        response.status_code = 200
    return _response(results, started)


@router.put(
    "/documents/{doc_id}",
    response_model=WriteResponse,
    openapi_extra=UPLOAD_BODY,
    responses={404: {"model": ErrorBody}, **BAD_DOCUMENT, **NO_INDEX},
)
async def replace_document(doc_id: str, request: Request, service: ServiceDep) -> WriteResponse:
    """Replace an existing document (same body as POST; the id comes from the URL)."""
    started = time.perf_counter()
    validate_new_doc_id(doc_id)
    index = service.require_index()
    if doc_id not in index.documents:
        raise DocumentNotFoundError(_unknown(doc_id))
    docs = await _documents(request, service, doc_id)
    return _response(await run_in_threadpool(service.upsert, docs), started)


@router.delete(
    "/documents/{doc_id}",
    response_model=WriteResponse,
    responses={404: {"model": ErrorBody}, **NO_INDEX},
)
async def delete_document(doc_id: str, service: ServiceDep) -> WriteResponse:
    """Delete a document and every trace of it (passages, vectors, terms)."""
    started = time.perf_counter()
    service.require_index()
    return _response(await run_in_threadpool(service.delete, [doc_id]), started)
