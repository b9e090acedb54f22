"""One error body for every failure: ``{"error": {"code", "message", "field"?}}``.

The product's errors (:mod:`qa.core.errors`) map to a status and a code here; request
validation is 422 ``invalid_request`` naming the field; any other HTTP error keeps its
status (a browser asking for a page that does not exist gets a page saying so); anything
unexpected is 500 ``internal_error`` (logged, never shown).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from qa.api.deps import wants_html
from qa.api.routes.pages import page
from qa.api.schemas import ErrorBody, ErrorDetail
from qa.core import errors
from qa.core.config import Settings

log = logging.getLogger(__name__)

# The first class an exception is an instance of decides (subclasses come first).
STATUSES: tuple[tuple[type[Exception], int, str], ...] = (
    (errors.DocumentNotFoundError, 404, "not_found"),
    (errors.PreconditionFailedError, 412, "precondition_failed"),
    (errors.DocumentTooLargeError, 413, "payload_too_large"),
    (errors.UnsupportedFileTypeError, 415, "unsupported_media_type"),
    (errors.IngestError, 400, "invalid_document"),
    (errors.IndexNotFoundError, 503, "no_index"),
    (errors.IndexMismatchError, 503, "index_unusable"),
    (errors.IndexBusyError, 503, "index_busy"),
    (errors.VectorStoreError, 503, "vector_store_unavailable"),
    (errors.ModelLoadError, 503, "model_unavailable"),
)
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(code=code, message=message, field=field))
    return JSONResponse(status_code=status, content=body.model_dump(exclude_none=True))


def _field(error: dict[str, Any]) -> str:
    """The dotted path of a validation error's field (``body`` and list positions of the
    JSON document itself left out)."""
    loc = [str(p) for p in error.get("loc", ()) if p != "body"]
    if error.get("type") == "json_invalid":
        return "body"
    return ".".join(loc) or "body"


def _problem(error: dict[str, Any]) -> str:
    if error.get("type") == "extra_forbidden":
        return "unknown field; see /docs for the accepted fields"
    if error.get("type") == "json_invalid":
        return "request body is not valid JSON"
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")


def describe(problems: Sequence[Any]) -> str:
    """Validation problems as one line: ``field: rule; field: rule``."""
    return "; ".join(f"{_field(e)}: {_problem(e)}" for e in problems)


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = list(exc.errors())
    field = _field(problems[0]) if problems else None
    return error_response(422, "invalid_request", describe(problems), field)


def redact(message: str, settings: Settings) -> str:
    """``message`` without the server's own folders and addresses: the index folder and
    the Milvus URI read as the settings that name them."""
    folder = settings.index_dir
    for path in sorted({str(folder.resolve()), str(folder.absolute())}, key=len, reverse=True):
        message = message.replace(path, "QA_INDEX_DIR")
    if settings.milvus_uri:
        message = message.replace(settings.milvus_uri, "QA_MILVUS_URI")
    return message


async def _product_error(request: Request, exc: Exception) -> JSONResponse:
    settings: Settings | None = getattr(request.app.state, "settings", None)
    message = redact(str(exc), settings) if settings is not None else str(exc)
    for cls, status, code in STATUSES:
        if isinstance(exc, cls):
            return error_response(status, code, message)
    return error_response(400, "bad_request", message)


# What Starlette says of a JSON body it cannot parse (not UTF-8, nested past its limit).
UNPARSABLE_BODY = "There was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404 and request.method == "GET" and wants_html(request):
        return page("not-found", 404)  # a person gets a page; API clients the error body
    message = str(exc.detail)
    if exc.status_code == 400 and message == UNPARSABLE_BODY:
        return error_response(
            422,
            "invalid_request",
            "body: not a JSON document that can be read (it must be UTF-8 JSON, not nested "
            "too deeply)",
            "body",
        )
    code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    response = error_response(exc.status_code, code, message)
    response.headers.update(exc.headers or {})
    return response


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal error; the server log has the details")


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the one body shape."""
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(errors.QAError, _product_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error statuses, with the error body."""
    reasons = {
        400: "A document that cannot be indexed (encoding, empty text, bad id), or a Host "
        "the service does not answer to.",
        401: "No API key, or an unknown one (when keys are configured).",
        403: "The key may read but not write, or the request comes from another origin.",
        404: "No document with this id.",
        412: "`If-Match` names a version the document no longer has (read it again).",
        413: "A body over its limit: QA_MAX_DOCUMENT_BYTES for documents, 64 KB for a question.",
        415: "Unsupported file type.",
        429: "Over the client's rate limit; `Retry-After` says when to retry.",
        422: "The request does not validate; `field` names the first problem.",
        503: "No usable index yet (or the vector store is unreachable); the message says why.",
    }
    return {s: {"model": ErrorBody, "description": reasons[s]} for s in statuses}
