"""The :class:`Document` record every source becomes, and the rules for document ids."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from qa.core.errors import IngestError
from qa.ingest.cleaning import article_segments, title_of

MAX_ID_LENGTH = 200
MetadataValue = str | int | float | bool

# Control characters, and the invisible ones that make two ids look alike or reorder
# what is shown: zero-width spaces and joiners, bidirectional marks and overrides.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


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
    metadata: dict[str, MetadataValue] = field(default_factory=dict)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def validate_doc_id(doc_id: str) -> str:
    """Check that ``doc_id`` is usable as a stable id; return it unchanged."""
    if not doc_id or not doc_id.strip():
        raise IngestError("document id is empty")
    if len(doc_id) > MAX_ID_LENGTH:
        raise IngestError(f"document id {doc_id[:40]!r}… is longer than {MAX_ID_LENGTH} characters")
    if _CONTROL.search(doc_id):
        raise IngestError(
            f"document id {doc_id!r} contains control, zero-width or bidirectional characters"
        )
    check_unicode(doc_id, "document id")
    return doc_id


def check_unicode(text: str, what: str) -> str:
    """``text`` unchanged, or an error when it cannot be stored as UTF-8 (a lone surrogate,
    as a JSON ``\\ud800`` escape can make)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise IngestError(
            f"{what} is not valid Unicode (a lone surrogate at character {exc.start})"
        ) from exc
    return text


def validate_new_doc_id(doc_id: str) -> str:
    """Stricter check for ids given through the API or ``qa add``: no path separators, as
    the id appears in URLs (``/documents/{id}``)."""
    validate_doc_id(doc_id)
    if "/" in doc_id or "\\" in doc_id:
        raise IngestError(f"document id {doc_id!r} contains a path separator ('/' or '\\')")
    if doc_id != doc_id.strip():
        raise IngestError(f"document id {doc_id!r} starts or ends with whitespace")
    return doc_id


def make_text_document(
    doc_id: str,
    text: str,
    source: str,
    title: str | None = None,
    published: str | None = None,
    metadata: dict[str, MetadataValue] | None = None,
) -> Document:
    """Build a document from an article's raw text (title from its first line unless given)."""
    check_unicode(text, f"the text of {doc_id!r}")
    check_unicode(title or "", f"the title of {doc_id!r}")
    check_unicode(source, f"the source of {doc_id!r}")
    return Document(
        doc_id=validate_doc_id(doc_id),
        title=title if title is not None else title_of(text),
        source=source,
        text=text,
        segments=article_segments(text),
        sha256=content_hash(text),
        published=published,
        metadata=dict(metadata or {}),
    )
