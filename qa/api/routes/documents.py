"""The collection: list, read, add, replace and delete articles.

JSON bodies and file uploads are separate operations, each documented and validated:
``POST /documents`` and ``PUT /documents/{id}`` take a JSON article; ``POST
/documents/upload`` and ``PUT /documents/{id}/upload`` a multipart file (text, HTML, PDF,
Office, OpenDocument or EPUB, or ``.jsonl`` of many articles for POST). A write answers
once it is on disk.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Header, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool

from qa.api.deps import ServiceDep, wants_html
from qa.api.errors import documented
from qa.api.routes.pages import page
from qa.api.schemas import DocumentDetail, DocumentIn, DocumentInfo, DocumentList, WriteResponse
from qa.api.security import require
from qa.core.errors import DocumentTooLargeError, IngestError
from qa.index import WriteResult
from qa.ingest import Document, documents_from_file, make_text_document, validate_doc_id
from qa.service import QAService

router = APIRouter(tags=["documents"])
MAX_UPLOAD_DOCUMENTS = 1000  # articles one .jsonl upload may hold
WRITE = Depends(require("write"))
PAGE = Depends(require("read", page=True))  # a browser gets the page, an API client data

FilesField = Annotated[
    list[UploadFile],
    File(
        description="One or more files, each in a part named `file`: .txt, .md, .html, .pdf, "
        ".docx, .pptx, .odt, .ods, .odp, .epub, .xlsx, .csv, or .jsonl of many articles."
    ),
]
MAX_UPLOAD_FILES = 100  # files one request may carry
IfMatch = Annotated[
    str | None,
    Header(
        description="Change the document only if it is still at this version (its ETag "
        "from GET /documents/{id}; `*`: any version); 412 otherwise."
    ),
]


HTML_PAGE: dict[int | str, dict[str, Any]] = {200: {"content": {"text/html": {}}}}


@router.get(
    "/documents",
    response_model=DocumentList,
    responses={**HTML_PAGE, **documented(401, 429, 503)},
    dependencies=[PAGE],
)
def list_documents(request: Request, service: ServiceDep) -> DocumentList | Response:
    """The indexed documents (a browser gets the documents page)."""
    if wants_html(request):
        return page("documents")
    return DocumentList(documents=[DocumentInfo.from_stored(d) for d in service.documents()])


@router.get(
    "/documents/{doc_id:path}",
    response_model=DocumentDetail,
    responses={**HTML_PAGE, **documented(401, 429, 404, 422, 503)},
    dependencies=[PAGE],
)
def get_document(
    doc_id: str, request: Request, response: Response, service: ServiceDep
) -> DocumentDetail | Response:
    """One document: its text, metadata and passage count (a browser gets the document
    page; ``?start=&end=`` marks a cited span there). ``ETag`` tags this version: send it
    back as ``If-Match`` on a PUT or DELETE to change only what you read."""
    if wants_html(request):
        return page("document")
    stored = service.document(doc_id)
    response.headers["ETag"] = f'"{stored.etag}"'
    return DocumentDetail.from_stored(stored)


def _written(results: list[WriteResult], started: float, response: Response) -> WriteResponse:
    if not any(r.status == "new" for r in results):
        response.status_code = 200
    return WriteResponse.from_results(results, started)


@router.post(
    "/documents",
    response_model=WriteResponse,
    status_code=201,
    responses={
        200: {"description": "Nothing new."},
        **documented(400, 401, 429, 403, 413, 422, 503),
    },
    dependencies=[WRITE],
)
async def add_document(body: DocumentIn, response: Response, service: ServiceDep) -> WriteResponse:
    """Add an article. An existing id is replaced; identical content changes nothing. 201
    when the document is new, 200 otherwise."""
    started = time.perf_counter()
    results = await run_in_threadpool(service.add, [body.to_document()])
    return _written(results, started, response)


@router.put(
    "/documents/{doc_id:path}/upload",
    response_model=WriteResponse,
    responses=documented(400, 401, 429, 403, 404, 412, 413, 415, 422, 503),
    dependencies=[WRITE],
)
async def upload_replacement(
    doc_id: str, file: FilesField, service: ServiceDep, if_match: IfMatch = None
) -> WriteResponse:
    """Replace an existing article with the one of a file (any kind but `.jsonl`)."""
    started = time.perf_counter()
    if len(file) != 1:
        raise IngestError(f"PUT /documents/{{id}}/upload takes one file, not {len(file)}")
    documents = await _read_upload(file[0], service)
    if len(documents) != 1:
        raise IngestError("PUT /documents/{id}/upload takes one document, not a .jsonl file")
    document = documents[0]
    replacement = make_text_document(
        validate_doc_id(doc_id), document.text, document.source, document.title,
        pages=document.pages,
    )  # fmt: skip
    return WriteResponse.from_results(
        await run_in_threadpool(service.replace, replacement, if_match), started
    )


@router.put(
    "/documents/{doc_id:path}",
    response_model=WriteResponse,
    responses=documented(400, 401, 429, 403, 404, 412, 413, 422, 503),
    dependencies=[WRITE],
)
async def replace_document(
    doc_id: str, body: DocumentIn, service: ServiceDep, if_match: IfMatch = None
) -> WriteResponse:
    """Replace an existing article (the id comes from the URL); with ``If-Match``, only
    if it is still the version that ETag tagged (412 otherwise)."""
    started = time.perf_counter()
    results = await run_in_threadpool(service.replace, body.to_document(doc_id), if_match)
    return WriteResponse.from_results(results, started)


@router.delete(
    "/documents/{doc_id:path}",
    response_model=WriteResponse,
    responses=documented(401, 429, 403, 404, 412, 422, 503),
    dependencies=[WRITE],
)
async def delete_document(
    doc_id: str, service: ServiceDep, if_match: IfMatch = None
) -> WriteResponse:
    """Delete a document and every trace of it (passages, vectors, terms); with
    ``If-Match``, only if it is still the version that ETag tagged (412 otherwise)."""
    started = time.perf_counter()
    results = await run_in_threadpool(service.delete, [doc_id], if_match)
    return WriteResponse.from_results(results, started)


async def _read_upload(
    file: UploadFile, service: QAService, skipped: list[str] | None = None
) -> list[Document]:
    limit = service.settings.max_document_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise DocumentTooLargeError(f"document is larger than the limit of {limit} bytes")
    name = file.filename or "upload.txt"
    documents = await run_in_threadpool(documents_from_file, name, data, "upload", skipped)
    if len(documents) > MAX_UPLOAD_DOCUMENTS:
        raise IngestError(
            f"{name}: {len(documents)} documents in one upload; send at most "
            f"{MAX_UPLOAD_DOCUMENTS} per request (or use `qa add` for bulk imports)"
        )
    return documents


@router.post(
    "/documents/upload",
    response_model=WriteResponse,
    status_code=201,
    responses={
        200: {"description": "Nothing new."},
        **documented(400, 401, 429, 403, 413, 415, 422, 503),
    },
    dependencies=[WRITE],
)
async def upload_documents(
    file: FilesField,
    response: Response,
    service: ServiceDep,
    skip_invalid: Annotated[
        bool,
        Query(
            description="Leave out bad `.jsonl` records (listed in `skipped`) instead of "
            "refusing the whole file."
        ),
    ] = False,
) -> WriteResponse:
    """Add the articles of one or more files (each in a part named `file`): one for
    `.txt`, `.md` and `.html` (id: the file name; for HTML the article text is extracted,
    menus and footers dropped), one per line for `.jsonl` (a bad record refuses the
    request, naming its file and line, unless `skip_invalid`). All or nothing; 201 when a
    document is new, 200 otherwise."""
    started = time.perf_counter()
    if len(file) > MAX_UPLOAD_FILES:
        raise IngestError(f"{len(file)} files in one request; send at most {MAX_UPLOAD_FILES}")
    skipped: list[str] | None = [] if skip_invalid else None
    documents = [d for one in file for d in await _read_upload(one, service, skipped)]
    names = [d.doc_id for d in documents]
    if len(set(names)) < len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise IngestError(f"the same document id twice in one upload: {', '.join(twice)}")
    written = _written(await run_in_threadpool(service.add, documents), started, response)
    return written.model_copy(update={"skipped": skipped or []})
