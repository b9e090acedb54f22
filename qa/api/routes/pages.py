"""The web pages: ask at ``/`` (``/?q=`` links to a question's answer), a document with
the cited span marked, and the documents list. Every asset comes from the package
(``qa/api/static``): no CDN, no build step. ``/documents`` and ``/documents/{id}`` answer
browsers (``Accept: text/html``) with their page and API clients with JSON."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)


def page(name: str) -> HTMLResponse:
    response = FileResponse(STATIC / f"{name}.html", media_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-cache"
    return response  # type: ignore[return-value]


@router.get("/", response_class=HTMLResponse)
def ask_page() -> HTMLResponse:
    """Ask a question; ``/?q=<question>`` opens on its answer."""
    return page("index")
