"""The web pages: ask at ``/`` (``/?q=`` links to a question's answer), a document with
the cited span marked, and the documents list. Every asset comes from the package
(``qa/api/static``): no CDN, no build step. A page is the shared layout around its body
(``static/pages/``); ``/documents`` and ``/documents/{id}`` answer browsers
(``Accept: text/html``) with their page and API clients with JSON."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

STATIC = Path(__file__).resolve().parent.parent / "static"
TITLES = {
    "ask": "Ask the articles",
    "document": "Document",
    "documents": "Documents",
    "not-found": "Not found",
}

router = APIRouter(include_in_schema=False)


@lru_cache(maxsize=len(TITLES))
def render(name: str) -> str:
    """The page ``name``: the layout with its title and body (the script fills it in)."""
    layout = (STATIC / "layout.html").read_text(encoding="utf-8")
    body = (STATIC / "pages" / f"{name}.html").read_text(encoding="utf-8").rstrip("\n")
    return layout.format(title=TITLES[name], page=name, body=body)


def page(name: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(render(name), status_code, headers={"Cache-Control": "no-cache"})


@router.get("/", response_class=HTMLResponse)
def ask_page() -> HTMLResponse:
    """Ask a question; ``/?q=<question>`` opens on its answer."""
    return page("ask")


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """The icon browsers ask for on their own (pages name ``/static/favicon.svg``)."""
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")
