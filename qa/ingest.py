"""Read articles from disk into :class:`Document` records.

Sources are folders of ``.txt``/``.md`` articles, single article files, or ``.jsonl``
(optionally gzipped) files of ``{"id", "title", "text"}`` records.

A document keeps its original text untouched; cleaning only decides which
*segments* (character spans of that text) are worth indexing, so every citation
offset points into the text exactly as read. For text files:

* the title is the first non-empty line (a leading markdown ``#`` is dropped);
* a paragraph that repeats an earlier one (news pages print the title twice) is skipped;
* comment-form and source-credit boilerplate is skipped ("Deixe um comentário",
  "O seu endereço de email não será publicado…", "Fonte e Imagens", a sentence that
  only points to "[fonte e imagens](…)", bare links), and everything after the start
  of a comment form is dropped.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa.core.errors import IngestError, QAError, UnsupportedFileTypeError

TEXT_SUFFIXES = (".txt", ".md")
HTML_SUFFIXES = (".html", ".htm")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz")
MAX_ID_LENGTH = 200

_PARAGRAPH = re.compile(r"\S(?:.*?\S)?(?=\s*\n\s*\n|\s*\Z)", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# A paragraph matching one of these (whole, case-insensitive) is not article text.
_BOILERPLATE = [
    r"o seu endere[cç]o de e-?mail n[aã]o ser[aá] publicado\..*",
    r"campos obrigat[oó]rios (?:s[aã]o )?marcados com \*",
    r"your email address will not be published\..*",
    r"required fields are marked \*",
    r"(?:fontes?|sources?|fuentes?)(?: (?:e|and|y) (?:imagens|images|im[aá]genes))?:?",
    r"(?:cr[eé]ditos?|credits?)(?: (?:das|of) (?:imagens|images))?:?",
    # only links: "[label](url)" or a bare URL, with nothing else of substance
    r"(?:\[[^\]]*\]\([^)]*\)|<?https?://\S+>?)[\s.]*",
]
# A paragraph that points the reader to the source: "…confira esta [fonte e imagens](url)."
_SOURCE_LINK = re.compile(
    r"\[[^\]]*(?:fonte|source|fuente|imagens|images|leia mais|read more|saiba mais)[^\]]*\]"
    r"\([^)]*\)",
    re.IGNORECASE,
)
# The start of a comment form: it and everything after it is dropped.
_COMMENT_FORM = re.compile(
    r"(?:deixe (?:um|o seu|seu) coment[aá]rio|leave a (?:comment|reply)|deja un comentario)\.?",
    re.IGNORECASE,
)
_BOILERPLATE_RE = re.compile("|".join(f"(?:{p})" for p in _BOILERPLATE), re.IGNORECASE)


@dataclass(frozen=True)
class Document:
    """One article: its original text and the spans of it that are indexed."""

    doc_id: str
    title: str
    source: str
    text: str
    segments: tuple[tuple[int, int], ...] = field(default=())
    sha256: str = ""
    published: str | None = None  # ISO date (YYYY-MM-DD)
    metadata: dict[str, str | int | float | bool] = field(default_factory=dict)

    @property
    def indexed_chars(self) -> int:
        return sum(end - start for start, end in self.segments)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def paragraphs(text: str) -> list[tuple[int, int]]:
    """Spans of the non-blank paragraphs of ``text`` (separated by blank lines), stripped."""
    return [(m.start(), m.end()) for m in _PARAGRAPH.finditer(text)]


def _normalise(s: str) -> str:
    return " ".join(s.split()).casefold()


def is_boilerplate(paragraph: str) -> bool:
    """True for a paragraph that is page furniture rather than article text."""
    flat = " ".join(paragraph.split())
    return bool(_BOILERPLATE_RE.fullmatch(flat) or _SOURCE_LINK.search(flat))


def article_segments(text: str) -> tuple[tuple[int, int], ...]:
    """The paragraphs of an article worth indexing (see the module docstring)."""
    kept: list[tuple[int, int]] = []
    seen: set[str] = set()
    for start, end in paragraphs(text):
        para = text[start:end]
        flat = " ".join(para.split())
        if _COMMENT_FORM.fullmatch(flat):
            break
        key = _normalise(para)
        if key in seen or is_boilerplate(para):
            continue
        seen.add(key)
        kept.append((start, end))
    return tuple(kept)


def title_of(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip().lstrip("#").strip()
    return ""


def validate_doc_id(doc_id: str) -> str:
    """Check that ``doc_id`` is usable as a stable id; return it unchanged."""
    if not doc_id or not doc_id.strip():
        raise IngestError("document id is empty")
    if len(doc_id) > MAX_ID_LENGTH:
        raise IngestError(f"document id {doc_id[:40]!r}… is longer than {MAX_ID_LENGTH} characters")
    if _CONTROL.search(doc_id):
        raise IngestError(f"document id {doc_id!r} contains control characters")
    return doc_id


def validate_new_doc_id(doc_id: str) -> str:
    """Stricter check for ids given through the API or ``qa add``: no path separators, as
    the id appears in URLs (``/documents/{id}``)."""
    validate_doc_id(doc_id)
    if "/" in doc_id or "\\" in doc_id:
        raise IngestError(f"document id {doc_id!r} contains a path separator ('/' or '\\')")
    if doc_id != doc_id.strip():
        raise IngestError(f"document id {doc_id!r} starts or ends with whitespace")
    return doc_id


def html_article(html: str) -> tuple[str, str]:
    """Title and article text of an HTML page, boilerplate (menus, footers, comments)
    stripped; paragraphs are separated by blank lines."""
    import trafilatura

    text = trafilatura.extract(html, include_comments=False, include_tables=False) or ""
    metadata = trafilatura.extract_metadata(html)
    title = (metadata.title if metadata is not None else None) or ""
    paragraphs = [line.strip() for line in text.splitlines() if line.strip()]
    return title, "\n\n".join(paragraphs)


def decode_utf8(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(
            f"{where}: not valid UTF-8 (byte {exc.start}); re-save the file as UTF-8"
        ) from exc


def documents_from_file(name: str, data: bytes, source: str) -> list[Document]:
    """Documents of one uploaded file: ``.txt``/``.md`` (id: the file name), ``.html``
    (article text extracted), ``.jsonl`` (one document per record)."""
    lower = name.lower()
    if lower.endswith(".jsonl"):
        text = decode_utf8(data, name)
        return [
            _record_document(Path(name), lineno, line)
            for lineno, line in enumerate(text.splitlines(), 1)
            if line.strip()
        ]
    if lower.endswith(HTML_SUFFIXES):
        title, text = html_article(decode_utf8(data, name))
        if not text:
            raise IngestError(f"{name}: no article text found in this HTML page")
        return [make_text_document(validate_new_doc_id(name), text, source, title or None)]
    if lower.endswith(TEXT_SUFFIXES):
        text = decode_utf8(data, name)
        return [make_text_document(validate_new_doc_id(name), text, source)]
    raise UnsupportedFileTypeError(
        f"{name}: unsupported file type; upload .txt, .md, .html or .jsonl"
    )


def make_text_document(
    doc_id: str,
    text: str,
    source: str,
    title: str | None = None,
    published: str | None = None,
    metadata: dict[str, str | int | float | bool] | None = None,
) -> Document:
    """Build a document from an article's raw text (title from its first line unless given)."""
    segments = article_segments(text)
    return Document(
        doc_id=validate_doc_id(doc_id),
        title=title if title is not None else title_of(text),
        source=source,
        text=text,
        segments=segments,
        sha256=content_hash(text),
        published=published,
        metadata=dict(metadata or {}),
    )


def read_bytes(path: Path) -> bytes:
    """The bytes of ``path``, or a readable error."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path}: cannot read ({exc.strerror})") from exc


def read_utf8(path: Path) -> str:
    """The text of ``path`` exactly as stored (no newline translation), or a readable error."""
    return decode_utf8(read_bytes(path), str(path))


def _is_jsonl(path: Path) -> bool:
    return path.name.endswith(JSONL_SUFFIXES)


def _is_text(path: Path) -> bool:
    return path.suffix.lower() in TEXT_SUFFIXES


def read_jsonl(path: Path) -> Iterator[Document]:
    """Documents of a ``.jsonl`` / ``.jsonl.gz`` file of ``{"id", "title", "text"}`` records."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                yield _record_document(path, lineno, line)
    except UnicodeDecodeError as exc:
        raise IngestError(f"{path}: not valid UTF-8; re-save the file as UTF-8") from exc
    except OSError as exc:
        raise IngestError(f"{path}: cannot read ({exc})") from exc


def json_object(line: str, where: str, error: type[QAError]) -> dict[str, Any]:
    """Parse one JSONL line that must hold an object; ``error`` names ``where`` if not."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise error(f"{where}: not a JSON object ({exc.msg})") from exc
    if not isinstance(record, dict):
        raise error(f"{where}: expected a JSON object")
    return record


def _record_document(path: Path, lineno: int, line: str) -> Document:
    where = f"{path}:{lineno}"
    record = json_object(line, where, IngestError)
    doc_id, text, title = record.get("id"), record.get("text"), record.get("title")
    if isinstance(doc_id, int) and not isinstance(doc_id, bool):
        doc_id = str(doc_id)
    if not isinstance(doc_id, str):
        raise IngestError(f"{where}: 'id' must be a string")
    if not isinstance(text, str):
        raise IngestError(f"{where}: 'text' must be a string")
    if title is not None and not isinstance(title, str):
        raise IngestError(f"{where}: 'title' must be a string")
    try:
        doc = make_text_document(doc_id, text, source=str(path), title=title or "")
    except IngestError as exc:
        raise IngestError(f"{where}: {exc}") from exc
    if not doc.title:
        doc = Document(doc.doc_id, title_of(text), doc.source, doc.text, doc.segments, doc.sha256)
    return doc


def _folder_files(folder: Path) -> list[Path]:
    files = [
        p
        for p in folder.rglob("*")
        if p.is_file()
        and (_is_text(p) or _is_jsonl(p))
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(files)


def iter_source(source: Path) -> Iterator[Document]:
    """Documents of one source: a folder, a text file, or a JSONL file."""
    if not source.exists():
        raise IngestError(f"{source}: no such file or folder")
    if source.is_dir():
        files = _folder_files(source)
        if not files:
            raise IngestError(f"{source}: no .txt, .md or .jsonl files in this folder")
        for path in files:
            if _is_jsonl(path):
                yield from read_jsonl(path)
            else:
                yield make_text_document(
                    path.relative_to(source).as_posix(), read_utf8(path), source=str(path)
                )
    elif _is_jsonl(source):
        yield from read_jsonl(source)
    elif _is_text(source):
        yield make_text_document(source.name, read_utf8(source), source=str(source))
    else:
        raise IngestError(f"{source}: unsupported file type (use .txt, .md, .jsonl or .jsonl.gz)")


def load_documents(sources: Iterable[Path]) -> list[Document]:
    """All documents of ``sources``; ids must be unique and every document must have text."""
    docs: list[Document] = []
    seen: dict[str, str] = {}
    for source in sources:
        for doc in iter_source(Path(source)):
            if doc.doc_id in seen:
                raise IngestError(
                    f"duplicate document id {doc.doc_id!r} (in {seen[doc.doc_id]} and {doc.source})"
                )
            if not doc.segments:
                raise IngestError(f"{doc.source}: document {doc.doc_id!r} has no text to index")
            seen[doc.doc_id] = doc.source
            docs.append(doc)
    if not docs:
        raise IngestError("no documents found in " + ", ".join(str(s) for s in sources))
    return docs
