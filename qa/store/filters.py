"""Which documents a query may cite: the filters of ``POST /query``.

A vector store applies them before its top-k: FAISS through the ids of the accepted
documents, Milvus through a filter expression over the fields each vector carries; BM25
through a mask of the accepted passages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from qa.store.records import StoredDocument


@dataclass(frozen=True)
class Filters:
    """Which documents a query may cite; ``None`` fields do not restrict."""

    doc_ids: frozenset[str] | None = None
    source: str | None = None
    published_after: date | None = None
    published_before: date | None = None
    metadata: tuple[tuple[str, Any], ...] = ()

    def accepts(self, doc: StoredDocument) -> bool:
        if self.doc_ids is not None and doc.doc_id not in self.doc_ids:
            return False
        if self.source is not None and doc.source != self.source:
            return False
        if self.published_after is not None or self.published_before is not None:
            if doc.published is None:
                return False
            published = date.fromisoformat(doc.published)
            if self.published_after is not None and published < self.published_after:
                return False
            if self.published_before is not None and published > self.published_before:
                return False
        for key, value in self.metadata:
            held = doc.metadata.get(key, _MISSING)
            if held is _MISSING or type(held) is not type(value) or held != value:
                return False
        return True


_MISSING = object()
