"""The web pages and the offline API docs, as served (the browser tests drive them)."""

from __future__ import annotations

import re

from tests.helpers import HUANG_DOC, original_text

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_the_ask_page_is_served_at_the_root(client):
    response = client.get("/", headers=BROWSER)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<label for="q">' in html and 'id="q"' in html  # a labelled question box
    assert 'name="viewport"' in html


def test_every_asset_of_the_pages_comes_from_the_service(client):
    for path in ("/", "/documents", f"/documents/{HUANG_DOC}", "/docs", "/redoc"):
        html = client.get(path, headers=BROWSER).text
        urls = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(
            r"(?:src|href)='([^']+)'", html
        )
        assert urls, path
        for url in urls:
            assert not url.startswith(("http:", "https:", "//")), (path, url)
            if url.startswith("/") and not url.startswith("/documents"):
                assert client.get(url).status_code == 200, (path, url)


def test_documents_answer_browsers_with_a_page_and_clients_with_json(client):
    page = client.get(f"/documents/{HUANG_DOC}", headers=BROWSER)
    assert page.headers["content-type"].startswith("text/html")
    assert 'data-page="document"' in page.text
    data = client.get(f"/documents/{HUANG_DOC}", headers={"Accept": "application/json"})
    assert data.headers["content-type"] == "application/json"
    assert data.json()["text"] == original_text(HUANG_DOC)
    assert client.get(f"/documents/{HUANG_DOC}").json()["doc_id"] == HUANG_DOC  # */*
    listing = client.get("/documents", headers=BROWSER)
    assert 'data-page="documents"' in listing.text
    assert client.get("/documents").json()["documents"]


def test_the_script_never_parses_api_text_as_html(client):
    script = client.get("/static/app.js").text
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "document.write" not in script
