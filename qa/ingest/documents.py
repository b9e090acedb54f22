"""The :class:`Document` record every source becomes, and the rules for document ids."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from qa.core.errors import IngestError
from qa.ingest.cleaning import article_segments, title_of

MAX_ID_LENGTH = 200
MetadataValue = str | int | float | bool

# Control characters, and the invisible ones that make two ids look alike or reorder
# what is shown: zero-width spaces and joiners, bidirectional marks and overrides.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# Unicode categories no id may hold: control, format, line and paragraph separators.
_UNSEEN = frozenset({"Cc", "Cf", "Zl", "Zp"})


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
    pages: tuple[int, ...] = ()  # where each page (or slide) starts in ``text``; () unpaged


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def validate_doc_id(doc_id: str) -> str:
    """``doc_id`` unchanged if it can be a document's id — whatever path it comes by (HTTP,
    ``qa add``, a ``.jsonl`` record, a file in a folder) — or a readable error. An id is
    one or more segments separated by ``/`` (a file in a subfolder): none empty, ``.`` or
    ``..``; no backslash, no whitespace at either end, no control, format, line-separator
    or zero-width character, no lone surrogate; at most :data:`MAX_ID_LENGTH` characters."""
    if not doc_id or not doc_id.strip():
        raise IngestError("document id is empty")
    if len(doc_id) > MAX_ID_LENGTH:
        raise IngestError(f"document id {doc_id[:40]!r}… is longer than {MAX_ID_LENGTH} characters")
    check_unicode(doc_id, "document id")
    if _CONTROL.search(doc_id) or any(unicodedata.category(c) in _UNSEEN for c in doc_id):
        raise IngestError(
            f"document id {doc_id!r} contains control, line-separator, zero-width or "
            "bidirectional characters"
        )
    if doc_id != doc_id.strip():
        raise IngestError(f"document id {doc_id!r} starts or ends with whitespace")
    if "\\" in doc_id:
        raise IngestError(f"document id {doc_id!r} contains a backslash")
    if any(part in ("", ".", "..") for part in doc_id.split("/")):
        raise IngestError(
            f"document id {doc_id!r} has an empty, '.' or '..' segment between its '/'"
        )
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


INT64 = (-(2**63), 2**63 - 1)  # the integers a metadata value may be


def check_fields(doc_id: str, title: str, source: str, metadata: dict[str, Any]) -> None:
    """Every stored string field must be valid Unicode (a lone surrogate cannot be stored),
    and every integer fit in 64 bits (what Milvus, and most JSON readers, can keep)."""
    check_unicode(title, f"the title of {doc_id!r}")
    check_unicode(source, f"the source of {doc_id!r}")
    for key, value in metadata.items():
        check_unicode(key, f"a metadata key of {doc_id!r}")
        if isinstance(value, str):
            check_unicode(value, f"the metadata value {key!r} of {doc_id!r}")
        elif (
            isinstance(value, int)
            and not isinstance(value, bool)
            and not INT64[0] <= value <= INT64[1]
        ):
            raise IngestError(
                f"the metadata value {key!r} of {doc_id!r} is an integer outside the 64-bit "
                "range: send it as a string"
            )


def make_text_document(
    doc_id: str,
    text: str,
    source: str,
    title: str | None = None,
    published: str | None = None,
    metadata: dict[str, MetadataValue] | None = None,
    pages: tuple[int, ...] = (),
) -> Document:
    """Build a document from an article's raw text (title from its first line unless given;
    ``pages``: where each page starts, for paginated formats)."""
    check_unicode(text, f"the text of {doc_id!r}")
    check_fields(doc_id, title or "", source, dict(metadata or {}))
    if not any(c.isalnum() for c in text):
        raise IngestError(f"document {doc_id!r} has no text: no letter or digit in any script")
    return Document(
        doc_id=validate_doc_id(doc_id),
        title=title if title is not None else title_of(text),
        source=source,
        text=text,
        segments=article_segments(text),
        sha256=content_hash(text),
        published=published,
        metadata=dict(metadata or {}),
        pages=pages,
    )
