"""Read articles into :class:`~qa.ingest.documents.Document` records.

Sources are folders (read recursively), single files, or uploaded bytes:

* ``.txt`` / ``.md`` — one article; the id is the file name (its path inside a folder);
* ``.html`` / ``.htm`` — one article: its text is extracted, menus, footers and comments
  dropped (``trafilatura``), paragraphs separated by blank lines;
* ``.jsonl`` / ``.jsonl.gz`` — one article per line, ``{"id", "text"}`` (and optional
  ``title``, ``source``, ``published``, ``metadata``);
* ``.pdf`` (its text layer), ``.docx``, ``.pptx``, ``.odt``, ``.ods``, ``.odp``, ``.epub``,
  ``.xlsx``, ``.csv``, ``.tsv``
  — one document, its text extracted and normalised by :mod:`qa.ingest.formats`, with
  where each page or slide starts.

Every failure is an :class:`~qa.core.errors.IngestError` naming the file (and line).
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from qa.core.errors import IngestError, QAError, UnsupportedFileTypeError
from qa.ingest.documents import Document, MetadataValue, make_text_document, validate_doc_id
from qa.ingest.formats import READERS, SUFFIXES, html_article

TEXT_SUFFIXES = (".txt", ".md")
HTML_SUFFIXES = (".html", ".htm")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz")
SUPPORTED = (
    ".txt, .md, .html, .pdf, .docx, .pptx, .odt, .ods, .odp, .epub, .xlsx, .csv, .tsv, "
    ".jsonl or .jsonl.gz"
)


def decode_utf8(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(
            f"{where}: not valid UTF-8 (byte {exc.start}); re-save the file as UTF-8"
        ) from exc


def _article(kind: str, doc_id: str, data: bytes, source: str, where: str) -> Document:
    """The one article of a file's bytes (any kind but ``jsonl``)."""
    if kind in READERS:
        found = READERS[kind](data, where)
        if not any(c.isalnum() for c in found.text):
            raise IngestError(f"{where}: no text found in this file")
        return make_text_document(doc_id, found.text, source, found.title, pages=found.pages)
    text = decode_utf8(data, where)
    if kind == "text":
        return make_text_document(doc_id, text, source)
    title, article = html_article(text)
    if not article:
        raise IngestError(f"{where}: no article text found in this HTML page")
    return make_text_document(doc_id, article, source, title or None)


def kind_of(name: str) -> str | None:
    """``text``, ``html``, ``jsonl`` or a :data:`~qa.ingest.formats.READERS` kind for a
    file name, ``None`` when unsupported."""
    lower = name.lower()
    for suffix, kind in SUFFIXES.items():
        if lower.endswith(suffix):
            return kind
    if lower.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if lower.endswith(HTML_SUFFIXES):
        return "html"
    if lower.endswith(TEXT_SUFFIXES):
        return "text"
    return None


def documents_from_file(
    name: str, data: bytes, source: str, skipped: list[str] | None = None
) -> list[Document]:
    """Documents of one uploaded file; a ``.txt``, ``.md`` or ``.html`` file's id is its
    name, which must be a valid new id. A bad ``.jsonl`` record is an error naming its line,
    or, given ``skipped``, left out and described there."""
    kind = kind_of(name)
    if kind == "jsonl":
        text = decode_utf8(data, name)
        # JSON Lines are separated by "\n" alone: U+2028 and kin belong to their strings
        lines = ((n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip())
        return _records(name, lines, skipped)
    if kind is None:
        raise UnsupportedFileTypeError(f"{name}: unsupported file type; upload {SUPPORTED}")
    return [_article(kind, validate_doc_id(name), data, source, name)]


def read_bytes(path: Path) -> bytes:
    """The bytes of ``path``, or a readable error."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path}: cannot read ({exc.strerror})") from exc


def read_jsonl(
    path: Path, skipped: list[str] | None = None, shown: str | None = None
) -> Iterator[Document]:
    """Documents of a ``.jsonl`` / ``.jsonl.gz`` file of ``{"id", "text"}`` records with,
    as over HTTP, optional ``title``, ``source``, ``published`` and ``metadata`` (bad
    records: as :func:`documents_from_file`); ``shown``: the file as messages name it, and
    as the ``source`` of records without one (default: ``path``)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as fh:
            lines = ((n, line) for n, line in enumerate(fh, 1) if line.strip())
            yield from _records(shown or str(path), lines, skipped)
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
    except RecursionError as exc:
        raise error(f"{where}: JSON nested too deeply") from exc
    except ValueError as exc:  # an integer of thousands of digits
        raise error(f"{where}: not a usable JSON object ({exc})") from exc
    if not isinstance(record, dict):
        raise error(f"{where}: expected a JSON object")
    return record


def _records(
    path: str, lines: Iterable[tuple[int, str]], skipped: list[str] | None
) -> list[Document]:
    documents = []
    for lineno, line in lines:
        try:
            documents.append(_record_document(path, lineno, line))
        except IngestError as exc:
            if skipped is None:
                raise
            skipped.append(str(exc))
    return documents


def _record_document(path: str, lineno: int, line: str) -> Document:
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
    source = record.get("source", path)
    if not isinstance(source, str):
        raise IngestError(f"{where}: 'source' must be a string")
    try:
        # an empty or missing title falls back to the text's first line
        return make_text_document(
            doc_id,
            text,
            source,
            title or None,
            _published(record.get("published")),
            _metadata(record.get("metadata", {})),
        )
    except IngestError as exc:
        raise IngestError(f"{where}: {exc}") from exc


def _published(value: object) -> str | None:
    """A record's date, as HTTP takes it: ``YYYY-MM-DD`` (null: none)."""
    if value is None:
        return None
    try:
        if isinstance(value, str):
            return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise IngestError(f"'published' must be a date written YYYY-MM-DD, not {value!r}"[:200])


def _metadata(value: object) -> dict[str, MetadataValue]:
    """A record's metadata, as HTTP takes it: an object of strings, finite numbers and
    booleans."""
    if not isinstance(value, dict) or not all(
        isinstance(v, str | int | bool) or (isinstance(v, float) and math.isfinite(v))
        for v in value.values()
    ):
        raise IngestError("'metadata' must be an object of strings, finite numbers and booleans")
    return value


def _folder_files(folder: Path) -> list[Path]:
    """Every file of ``folder`` and its subfolders, hidden ones (and those in hidden
    folders) aside."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _read_file(
    path: Path, doc_id: str, shown: str, skipped: list[str] | None
) -> Iterator[Document]:
    kind = kind_of(path.name)
    if kind == "jsonl":
        yield from read_jsonl(path, skipped, shown)
    elif kind is None:
        raise IngestError(f"{path}: unsupported file type (use {SUPPORTED})")
    else:
        yield _article(kind, doc_id, read_bytes(path), shown, str(path))


def shown_source(source: Path) -> str:
    """How documents read from ``source`` name it in their ``source`` (what citations
    show): the path relative to the working folder when it lies inside it, else the
    file's or folder's own name — never the server's absolute path."""
    try:
        return source.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return source.resolve().name or source.as_posix()


def iter_source(
    source: Path, skipped: list[str] | None = None, passed: list[str] | None = None
) -> Iterator[Document]:
    """Documents of one source: a folder (read recursively) or one file; ``skipped``: bad
    ``.jsonl`` records are left out and described there instead of failing the read.
    ``passed``: a folder's files that cannot be indexed (an unsupported type, a scanned or
    encrypted PDF, a damaged file) are named there with the reason, and the walk goes on;
    without it (``--strict``) the first one is an error. A file named alone always is."""
    if not source.exists():
        raise IngestError(f"{source}: no such file or folder")
    shown = shown_source(source)
    if not source.is_dir():
        yield from _read_file(source, source.name, shown, skipped)
        return
    files = _folder_files(source)
    if not any(kind_of(path.name) for path in files):
        raise IngestError(f"{source}: no file of a kind this reads in this folder ({SUPPORTED})")
    for path in files:
        inside = path.relative_to(source).as_posix()
        documents = _read_file(path, inside, f"{shown}/{inside}".removeprefix("./"), skipped)
        if kind_of(path.name) == "jsonl":  # its records' own rules (``skipped``) hold
            yield from documents
            continue
        try:
            found = list(documents)  # one document: read whole before it is given out
        except IngestError as exc:
            if passed is None:
                raise
            passed.append(str(exc))
            continue
        yield from found


def iter_documents(sources: Sequence[Path], passed: list[str] | None = None) -> Iterator[Document]:
    """The documents of ``sources``, one at a time; ids must be unique and every document
    must have text, and there must be one. ``passed``: as for :func:`iter_source`."""
    seen: dict[str, str] = {}
    for source in sources:
        for doc in iter_source(Path(source), passed=passed):
            if doc.doc_id in seen:
                raise IngestError(
                    f"duplicate document id {doc.doc_id!r} (in {seen[doc.doc_id]} and {doc.source})"
                )
            if not doc.segments:
                raise IngestError(f"{doc.source}: document {doc.doc_id!r} has no text to index")
            seen[doc.doc_id] = doc.source
            yield doc
    if not seen:
        why = f" (not indexed: {'; '.join(passed[:3])})" if passed else ""
        raise IngestError("no documents found in " + ", ".join(str(s) for s in sources) + why)


def load_documents(sources: Sequence[Path], passed: list[str] | None = None) -> list[Document]:
    """All documents of ``sources`` (see :func:`iter_documents`)."""
    return list(iter_documents(sources, passed))
