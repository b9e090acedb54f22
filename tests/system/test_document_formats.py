"""PDFs as people have them, printed from HTML by the system's Chromium at test time: the
Huang question answered from a PDF with the page it stands on, passages across a page
break cited on both pages, running headers and page numbers left out of the text, and
clear refusals for a scanned PDF, an encrypted one and a folder's unsupported file."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.testing import CHROMIUM as CHROMIUM_PATH
from qa.testing import print_pdf as print_with_chromium
from qa.testing import running_server
from tests.helpers import HUANG_DOC, original_text

CHROMIUM = Path(CHROMIUM_PATH)
HEADER = "Boletim de tecnologia — edição 12"


def print_pdf(html: str, path: Path) -> Path:
    return print_with_chromium(html, path, print_background=True)


def article_pdf(folder: Path) -> tuple[Path, int]:
    """The Huang article over three printed pages, each with a running header and a page
    number; returns the PDF and the page its investors sentence is on."""
    paragraphs = [p for p in original_text(HUANG_DOC).split("\n\n") if p.strip()]
    third = len(paragraphs) // 3
    pages = [paragraphs[:third], paragraphs[third : 2 * third], paragraphs[2 * third :]]
    body = "".join(
        f'<section style="break-after: page"><p>{HEADER}</p>'
        + "".join(f"<p>{p}</p>" for p in page)
        + f"<p>{n}</p></section>"
        for n, page in enumerate(pages, 1)
    )
    html = f"<html><head><meta charset='utf-8'></head><body>{body}</body></html>"
    on_page = next(n for n, page in enumerate(pages, 1) if any("avaliaram mal" in p for p in page))
    return print_pdf(html, folder / "boletim.pdf"), on_page


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory) -> tuple[Path, int, Path, Path]:
    assert CHROMIUM.exists(), "Chromium is missing: apt-get install chromium"
    folder = tmp_path_factory.mktemp("pdfs")
    article, on_page = article_pdf(folder)
    from PIL import Image

    picture = io.BytesIO()
    Image.new("RGB", (400, 200), (120, 120, 120)).save(picture, "PNG")
    png = base64.b64encode(picture.getvalue()).decode()
    scanned = print_pdf(f"<img src='data:image/png;base64,{png}'>", folder / "digitalizado.pdf")
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(article))
    writer.encrypt("segredo")
    locked = folder / "trancado.pdf"
    with locked.open("wb") as out:
        writer.write(out)
    return article, on_page, scanned, locked


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[str]:
    with running_server(tmp_path_factory.mktemp("formats") / "index") as (url, _):
        yield url


def upload(base: str, path: Path) -> httpx.Response:
    with path.open("rb") as handle:
        files = {"file": (path.name, handle, "application/pdf")}
        return httpx.post(base + "/documents/upload", files=files, timeout=120)


def test_the_answer_from_a_pdf_names_its_page(served, pdfs) -> None:
    article, on_page, _, _ = pdfs
    assert upload(served, article).status_code == 201
    stored = httpx.get(served + "/documents/boletim.pdf", timeout=30).json()
    text, pages = stored["text"], stored["pages"]
    assert len(pages) == 3 and pages[0] == 0
    assert HEADER not in text  # the running header is gone, and so are the page numbers
    assert "\n\n1\n\n" not in text and not text.rstrip().endswith("\n3")
    assert "  " not in text  # lines re-joined with single spaces
    body = {"question": "What did Huang say about investors?", "top_k": 10}
    reply = httpx.post(served + "/query", json=body, timeout=60).json()
    answer = reply["answer"]
    assert answer is not None, reply["answer_note"]
    c = answer["citation"]
    assert text[c["char_start"] : c["char_end"]] == answer["text"]

    def page_of(offset: int) -> int:
        return max(n for n, start in enumerate(pages, 1) if start <= offset)

    assert c["pages"] == list(range(page_of(c["char_start"]), page_of(c["char_end"] - 1) + 1))
    if "avaliaram mal" in answer["text"]:
        assert on_page in c["pages"]
    crossing = [r for r in reply["results"] if len(r["citation"]["pages"]) == 2]
    assert crossing, [r["citation"]["pages"] for r in reply["results"]]
    for r in reply["results"]:
        rc = r["citation"]
        assert text[rc["char_start"] : rc["char_end"]] == r["text"]
        first, last = rc["pages"][0], rc["pages"][-1]
        ends = [*pages, len(text)]
        assert ends[first - 1] <= rc["char_start"] and rc["char_end"] <= ends[last]


def test_scanned_and_encrypted_pdfs_say_what_they_need(served, pdfs) -> None:
    _, _, scanned, locked = pdfs
    no_text = upload(served, scanned)
    assert no_text.status_code == 400 and "needs OCR" in no_text.json()["error"]["message"]
    encrypted = upload(served, locked)
    assert encrypted.status_code == 400 and "encrypted" in encrypted.json()["error"]["message"]


def test_a_folder_with_a_pdf_and_an_unsupported_file(pdfs, tmp_path) -> None:
    article, _, scanned, _ = pdfs
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "boletim.pdf").write_bytes(article.read_bytes())
    (folder / "digitalizado.pdf").write_bytes(scanned.read_bytes())
    (folder / "nota.rtf").write_bytes(b"{\\rtf1 nota}")
    index = tmp_path / "index"
    result = CliRunner().invoke(app, ["add", str(folder), "--index-dir", str(index)])
    assert result.exit_code == 0, result.output
    assert "new       boletim.pdf" in result.stdout
    assert "digitalizado.pdf: no text layer" in result.stderr
    assert "nota.rtf: unsupported file type" in result.stderr
    assert "2 files not indexed" in result.stderr
    strict = CliRunner().invoke(
        app, ["add", str(folder), "--strict", "--index-dir", str(tmp_path / "other")]
    )
    assert strict.exit_code == 1 and not (tmp_path / "other").exists()


def test_the_document_page_shows_its_pages_and_the_cited_span(served, pdfs) -> None:
    from playwright.sync_api import sync_playwright

    if httpx.get(served + "/documents/boletim.pdf", timeout=30).status_code == 404:
        assert upload(served, pdfs[0]).status_code == 201
    stored = httpx.get(served + "/documents/boletim.pdf", timeout=30).json()
    start = stored["text"].index("avaliaram mal")
    url = f"{served}/documents/boletim.pdf?start={start}&end={start + 13}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("mark#cited")
        assert page.locator("span.page-start").count() == 3
        assert page.locator("mark#cited").inner_text() == "avaliaram mal"
        # the markers hold no characters: offsets into the page's text are the document's
        assert page.evaluate("document.getElementById('text').textContent") == stored["text"]
        assert "3 pages" in page.locator("#meta").inner_text()
        browser.close()
