"""Text out of the documents people have: PDF (its text layer), Word, PowerPoint,
OpenDocument (text, spreadsheet, presentation), EPUB, and spreadsheets (Excel, CSV).

Each reader returns :class:`Extracted`: the text as it will be stored — normalised once,
here (a PDF's lines re-joined into paragraphs, words a line break split made whole again
when the document writes them whole elsewhere, running headers,
footers and page numbers dropped) — and, for paginated formats, where each page (or slide)
starts in it, so that a citation can name its pages. Citations slice the stored text, so
they stay exact whatever the normalisation did.

Libraries: ``pypdfium2`` (PDFium, the PDF engine of Chromium) for PDF, ``python-docx``,
``python-pptx`` and ``odfdo`` for Office and OpenDocument files; ``trafilatura`` for the
article text of HTML pages; an EPUB is a zip of XHTML chapters, read with the standard
library and ``lxml``, every block of text kept (a book has no menus to strip);
``openpyxl`` for Excel workbooks, the standard library's ``csv`` for CSV.
Every failure is an :class:`~qa.core.errors.IngestError` saying what the file needs.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from qa.core.errors import IngestError

T = TypeVar("T")
CSV_SNIFF = 64_000  # characters a CSV's delimiter is guessed from
MAX_PAGES = 5000  # pages (or slides) one file may have
# A repeated line at the top or bottom of at least this share of pages is a running header
# or footer (from three pages on).
RUNNING_SHARE = 0.5
PAGE_NUMBER = re.compile(
    r"^\s*(?:[-–—]\s*)?(?:p(?:age|ág(?:ina)?|\.)?\s*)?\d{1,4}(?:\s*(?:/|of|de)\s*\d{1,4})?"
    r"(?:\s*[-–—])?\s*$",
    re.IGNORECASE,
)
TERMINAL = (".", "!", "?", ":", "…", '"', "”", "»", ")")
# PDFium's mark for a hyphen that ends a line (it joins the line itself); ours is the same.
LINE_END_HYPHEN = "\x02"
WORD = re.compile(r"\w+")
SPLIT_WORD = re.compile(r"(\w+)\x02(\w+)")


@dataclass(frozen=True)
class Extracted:
    text: str
    pages: tuple[int, ...] = ()  # where page (or slide) n + 1 starts in ``text``
    title: str | None = None


NOT_TITLES = re.compile(
    r"^(about:|https?:|file:|untitled\b|microsoft (word|powerpoint) - )|"
    r"\.(pdf|docx?|pptx?|odt|odp|ods|rtf|txt|html?)$",
    re.IGNORECASE,
)


def usable_title(title: str | None) -> str | None:
    """A file's own title, unless it is what tools write when there is none (a page's
    address, a file name, "Untitled"): then ``None``, and the text's first line serves."""
    title = " ".join((title or "").split())
    return None if not title or NOT_TITLES.search(title) else title


def join_pages(pages: Sequence[str]) -> Extracted:
    """One text of ``pages`` (each already normalised), separated by blank lines, with where
    each page starts; an empty page starts where the next one does."""
    text, starts = "", []
    for page in pages:
        if text and page:
            text += "\n\n"
        starts.append(len(text))
        text += page
    for i in reversed(range(len(pages) - 1)):
        if not pages[i]:
            starts[i] = starts[i + 1]
    return Extracted(text, tuple(starts))


# ------------------------------------------------------------------- PDF
def read_pdf(data: bytes, where: str) -> Extracted:
    import pypdfium2 as pdfium  # type: ignore[import-untyped]

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            message = f"{where}: the PDF is encrypted; save a copy without a password"
            raise IngestError(message) from exc
        raise IngestError(f"{where}: not a readable PDF ({exc})") from exc
    try:
        if len(pdf) > MAX_PAGES:
            raise IngestError(f"{where}: {len(pdf)} pages, more than the {MAX_PAGES} allowed")
        raw = [_page_text(pdf[i]) for i in range(len(pdf))]
        title = usable_title(pdf.get_metadata_dict().get("Title"))
    finally:
        pdf.close()
    if not any(line.strip() for page in raw for line in page):
        raise IngestError(
            f"{where}: no text layer (a scanned PDF?): it needs OCR before it can be indexed"
        )
    vocabulary = {w.lower() for page in raw for line in page for w in WORD.findall(line)}
    pages = [resolve_hyphens(paragraphs(lines), vocabulary) for lines in drop_running_lines(raw)]
    extracted = join_pages(pages)
    return Extracted(extracted.text, extracted.pages, title)


def _page_text(page: object) -> list[str]:
    textpage = page.get_textpage()  # type: ignore[attr-defined]
    try:
        text: str = textpage.get_text_bounded()
    finally:
        textpage.close()
        page.close()  # type: ignore[attr-defined]
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def drop_running_lines(pages: Sequence[list[str]]) -> list[list[str]]:
    """``pages`` without page numbers and without the running headers and footers: lines
    that open or close most pages alike (digits aside, so "Page 3 of 9" counts too)."""
    texts = [[line for line in lines if line.strip()] for lines in pages]
    edges: Counter[str] = Counter()
    for kept in texts:
        edges.update({_shape(line) for line in kept[:2] + kept[-2:]})
    running = {
        key
        for key, n in edges.items()
        if len(pages) >= 3 and n >= RUNNING_SHARE * len(pages) and key
    }
    cleaned = []
    for kept in texts:
        edge = set(range(min(2, len(kept)))) | set(range(max(0, len(kept) - 2), len(kept)))
        cleaned.append(
            [
                line
                for i, line in enumerate(kept)
                if not (i in edge and (_shape(line) in running or PAGE_NUMBER.match(line)))
            ]
        )
    return cleaned


def _shape(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.split())).lower()


def paragraphs(lines: Sequence[str]) -> str:
    """A page's lines as paragraphs: a line ending in a hyphen joins the next word (with
    :data:`LINE_END_HYPHEN` between, for :func:`resolve_hyphens`), other lines join with a
    space, and a paragraph ends after a line that stops short of
    the page's usual width with a sentence's end or before a capital (a heading, a
    paragraph's last line), or where the page had an empty line."""
    text_lines = [" ".join(line.split()) for line in lines]
    widths = sorted(len(line) for line in text_lines if line)
    if not widths:
        return ""
    usual = widths[int(len(widths) * 0.8)] if len(widths) >= 3 else widths[-1]
    out, paragraph = [], ""
    for i, line in enumerate(text_lines):
        if not line:
            if paragraph:
                out.append(paragraph)
            paragraph = ""
            continue
        if paragraph.endswith("-") and line[:1].islower() and paragraph[-2:-1].isalpha():
            paragraph = paragraph[:-1] + LINE_END_HYPHEN + line  # resolve_hyphens decides
        else:
            paragraph = f"{paragraph} {line}" if paragraph else line
        following = text_lines[i + 1][:1] if i + 1 < len(text_lines) else ""
        ends = line.endswith(TERMINAL) or following.isupper() or following.isdigit()
        if ends and len(line) < 0.8 * usual:  # a short line: a heading or a paragraph's end
            out.append(paragraph)
            paragraph = ""
    if paragraph:
        out.append(paragraph)
    return "\n\n".join(out)


def resolve_hyphens(text: str, vocabulary: set[str]) -> str:
    """Each word split by a hyphen at a line's end made whole ("indús-tria" ->
    "indústria") when the document writes the whole word elsewhere; otherwise the hyphen
    is the word's own ("pré-treinando"): most PDFs today (word processors, browsers) break
    lines at hyphens they did not add, and no word is invented."""

    def mend(match: re.Match[str]) -> str:
        left, right = match.groups()
        whole = left + right
        return whole if whole.lower() in vocabulary else f"{left}-{right}"

    return SPLIT_WORD.sub(mend, text).replace(LINE_END_HYPHEN, "-")


# ------------------------------------------------------------------- Office, OpenDocument
def read_docx(data: bytes, where: str) -> Extracted:
    import docx

    document = _open(lambda: docx.Document(io.BytesIO(data)), where, "Word")
    blocks = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            blocks.append(" | ".join(cell.text.strip() for cell in row.cells))
    return Extracted(_blocks(blocks), (), usable_title(document.core_properties.title))


def read_pptx(data: bytes, where: str) -> Extracted:
    import pptx

    deck = _open(lambda: pptx.Presentation(io.BytesIO(data)), where, "PowerPoint")
    slides = []
    for slide in deck.slides:
        blocks = [
            paragraph.text
            for shape in slide.shapes
            if shape.has_text_frame
            for paragraph in shape.text_frame.paragraphs
        ]
        slides.append(_blocks(blocks))
    _check_pages(len(slides), where)
    title = usable_title(deck.core_properties.title)
    extracted = join_pages(slides)
    return Extracted(extracted.text, extracted.pages, title)


def read_odf(data: bytes, where: str) -> Extracted:
    """An OpenDocument text, spreadsheet (rows as lines, cells separated by " | ") or
    presentation (slides as pages)."""
    import odfdo

    document = _open(lambda: odfdo.Document(io.BytesIO(data)), where, "OpenDocument")
    body = document.body
    title = usable_title(document.meta.get_title())
    kind = document.get_type()
    if kind == "presentation":
        slides = [_blocks(_texts(page)) for page in body.get_draw_pages()]
        _check_pages(len(slides), where)
        extracted = join_pages(slides)
        return Extracted(extracted.text, extracted.pages, title)
    if kind == "spreadsheet":
        rows = [
            " | ".join(str(v) for v in row if v not in (None, ""))
            for table in body.get_tables()
            for row in table.get_values()
        ]
        return Extracted(_blocks(rows), (), title)
    return Extracted(_blocks(_texts(body)), (), title)


def read_xlsx(data: bytes, where: str) -> Extracted:
    """An Excel workbook: every sheet's rows as lines, cells separated by " | " (as an
    OpenDocument spreadsheet's); a formula gives the value Excel saved with it."""
    import openpyxl  # type: ignore[import-untyped]

    book = _open(
        lambda: openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True),
        where,
        "Excel",
    )
    try:
        rows = [
            " | ".join(_cell(v) for v in row if v is not None and str(v).strip())
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
        ]
        title = usable_title(book.properties.title)
    finally:
        book.close()
    return Extracted(_blocks(rows), (), title)


def read_csv(data: bytes, where: str) -> Extracted:
    """A CSV (or tab-separated) file, UTF-8: its rows as lines, cells separated by " | "."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(
            f"{where}: not valid UTF-8 (byte {exc.start}); re-save the file as UTF-8"
        ) from exc
    try:
        dialect: Any = csv.Sniffer().sniff(text[:CSV_SNIFF], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = [
            " | ".join(c.strip() for c in row if c.strip())
            for row in csv.reader(io.StringIO(text, newline=""), dialect)
        ]
    except csv.Error as exc:
        raise IngestError(f"{where}: not a readable CSV file ({exc})") from exc
    return Extracted(_blocks(rows), (), None)


def _cell(value: object) -> str:
    """A spreadsheet cell as text: a date without its midnight, a whole float without
    ``.0``."""
    if isinstance(value, datetime.datetime) and value.time() == datetime.time():
        return value.date().isoformat()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _texts(element: object) -> list[str]:
    """The headings' and paragraphs' text of an OpenDocument element, in document order."""
    found = element.get_elements("//text:h|//text:p")  # type: ignore[attr-defined]
    return [str(e.get_formatted_text()).strip() for e in found]


def _blocks(blocks: Sequence[str]) -> str:
    return "\n\n".join(" ".join(b.split()) for b in blocks if b and b.strip())


def _check_pages(pages: int, where: str) -> None:
    if pages > MAX_PAGES:
        raise IngestError(f"{where}: {pages} pages, more than the {MAX_PAGES} allowed")


def _open(opener: Callable[[], T], where: str, kind: str) -> T:
    try:
        return opener()
    except Exception as exc:  # the libraries raise many kinds for a damaged file
        raise IngestError(f"{where}: not a readable {kind} file ({type(exc).__name__})") from exc


# ------------------------------------------------------------------- HTML, EPUB
def html_article(html: str) -> tuple[str, str]:
    """Title and article text of an HTML page, boilerplate (menus, footers, comments)
    stripped; paragraphs are separated by blank lines."""
    import trafilatura

    text = trafilatura.extract(html, include_comments=False, include_tables=False) or ""
    metadata = trafilatura.extract_metadata(html)
    title = (metadata.title if metadata is not None else None) or ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return title, "\n\n".join(lines)


def read_epub(data: bytes, where: str) -> Extracted:
    """The chapters of an EPUB in reading order (its spine), each as its HTML's text."""
    from lxml import etree  # type: ignore[import-untyped]

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            container = etree.fromstring(book.read("META-INF/container.xml"))
            opf_path = container.find(".//{*}rootfile").get("full-path")
            opf = etree.fromstring(book.read(opf_path))
            folder = opf_path.rsplit("/", 1)[0] + "/" if "/" in opf_path else ""
            items = {i.get("id"): i.get("href") for i in opf.iterfind(".//{*}manifest/{*}item")}
            spine = [items[r.get("idref")] for r in opf.iterfind(".//{*}spine/{*}itemref")]
            chapters = [_chapter_text(book.read(folder + href)) for href in spine]
            title = opf.findtext(".//{http://purl.org/dc/elements/1.1/}title")
    except (zipfile.BadZipFile, KeyError, AttributeError, etree.XMLSyntaxError) as exc:
        raise IngestError(f"{where}: not a readable EPUB file ({type(exc).__name__})") from exc
    except UnicodeDecodeError as exc:
        raise IngestError(f"{where}: an EPUB chapter is not UTF-8") from exc
    return Extracted("\n\n".join(c for c in chapters if c), (), usable_title(title))


BLOCKS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "td", "dd", "dt")


def _chapter_text(data: bytes) -> str:
    """An XHTML chapter's blocks (paragraphs, headings, list items...) in order, each
    once: a book's chapter is all text, with no menus to strip."""
    from lxml import etree

    root = etree.fromstring(data, etree.XMLParser(recover=True, resolve_entities=False))
    if root is None:
        return ""

    def is_block(element: Any) -> bool:
        return isinstance(element.tag, str) and etree.QName(element).localname in BLOCKS

    blocks = [
        "".join(element.itertext())
        for element in root.iter()
        if is_block(element) and not any(is_block(d) for d in element.iterdescendants())
    ]
    return _blocks(blocks)


READERS: dict[str, Callable[[bytes, str], Extracted]] = {
    "pdf": read_pdf,
    "docx": read_docx,
    "pptx": read_pptx,
    "odf": read_odf,
    "epub": read_epub,
    "xlsx": read_xlsx,
    "csv": read_csv,
}
SUFFIXES = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".pptx": "pptx",
    ".odt": "odf",
    ".ods": "odf",
    ".odp": "odf",
    ".epub": "epub",
    ".xlsx": "xlsx",
    ".csv": "csv",
    ".tsv": "csv",
}
