"""Milvus rows of the vector backend: a vector under its global id, with the fields a query
filter reads of its document (:mod:`qa.milvus.expressions`)."""

from __future__ import annotations

from typing import Any

from qa.milvus.expressions import ID_FIELD, VECTOR_FIELD, document_fields
from qa.vectors.base import Rows


def milvus_rows(rows: Rows) -> list[dict[str, Any]]:
    """Milvus rows for ``rows``, with the filter fields of their documents."""
    fields: dict[str, dict[str, Any]] = {}
    for doc in rows.docs:
        if doc.doc_id not in fields:
            fields[doc.doc_id] = document_fields(doc)
    return [
        {ID_FIELD: int(i), VECTOR_FIELD: vector, **fields[doc.doc_id]}
        for i, vector, doc in zip(rows.ids.tolist(), rows.vectors, rows.docs, strict=True)
    ]
