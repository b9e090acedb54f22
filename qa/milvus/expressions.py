"""The fields a query filter reads of Milvus rows, and filter expressions.

A row carries the fields a query filter reads of its document: ``doc_id``,
``source``, ``published`` (days since 0001-01-01, 0 when unknown) and ``tags`` (one
``[key, type, value]`` JSON string per metadata entry, so that a metadata filter matches
value *and* type, as it does on FAISS). :func:`filter_expression` turns the filters of
``POST /query`` into a Milvus boolean expression: the engine applies it before its top-k.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from qa.core.errors import IngestError
from qa.ingest import Document
from qa.store import Filters, StoredDocument

MAX_TAGS = 256  # metadata entries per document
MAX_FIELD = 65_535  # characters of a doc_id, source or metadata entry
ID_FIELD, VECTOR_FIELD = "id", "vector"


def quote(text: str) -> str:
    """A Milvus string literal. Both quote characters are escaped: Milvus's parser misreads
    ``"\\"'"`` (a double quote, then a single one) unless the single one is escaped too."""
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("'", "\\'")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def metadata_tag(key: str, value: str | int | float | bool) -> str:
    """One metadata entry as stored in ``tags`` (type included: ``1``, ``1.0`` and ``true``
    are different values, as in :meth:`qa.store.Filters.accepts`)."""
    if isinstance(value, float):
        value = value + 0.0  # -0.0 == 0.0
    return json.dumps([key, type(value).__name__, value], ensure_ascii=False)


def published_day(published: str | None) -> int:
    return date.fromisoformat(published).toordinal() if published else 0


def filter_expression(filters: Filters | None) -> str:
    """``filters`` as a Milvus boolean expression ("" when they accept everything)."""
    if filters is None:
        return ""
    parts: list[str] = []
    if filters.doc_ids is not None:
        if not filters.doc_ids:
            return f"{ID_FIELD} < 0"
        parts.append(f"doc_id in [{', '.join(quote(d) for d in sorted(filters.doc_ids))}]")
    if filters.source is not None:
        parts.append(f"source == {quote(filters.source)}")
    if filters.published_after is not None:
        parts.append(f"published >= {filters.published_after.toordinal()}")
    if filters.published_before is not None:
        parts.append(f"published >= 1 and published <= {filters.published_before.toordinal()}")
    for key, value in filters.metadata:
        parts.append(f"array_contains(tags, {quote(metadata_tag(key, value))})")
    return " and ".join(f"({p})" for p in parts)


def add_filter_fields(schema: Any) -> None:
    """The fields :func:`document_fields` fills, added to a Milvus collection schema."""
    from pymilvus import DataType

    schema.add_field("doc_id", DataType.VARCHAR, max_length=MAX_FIELD)
    schema.add_field("source", DataType.VARCHAR, max_length=MAX_FIELD)
    schema.add_field("published", DataType.INT64)
    schema.add_field(
        "tags",
        DataType.ARRAY,
        element_type=DataType.VARCHAR,
        max_capacity=MAX_TAGS,
        max_length=MAX_FIELD,
    )


def document_fields(doc: StoredDocument | Document) -> dict[str, Any]:
    """The fields a filter reads of ``doc``'s rows (its id, source, date and tags)."""
    tags = [metadata_tag(k, v) for k, v in sorted(doc.metadata.items())]
    too_long = [t for t in (doc.doc_id, doc.source, *tags) if len(t) > MAX_FIELD]
    if len(tags) > MAX_TAGS or too_long:
        raise IngestError(
            f"document {doc.doc_id!r} does not fit the Milvus store: at most "
            f"{MAX_TAGS} metadata entries and {MAX_FIELD} characters per id, source "
            "or entry"
        )
    return {
        "doc_id": doc.doc_id,
        "source": doc.source,
        "published": published_day(doc.published),
        "tags": tags,
    }
