"""A document as the index keeps it: its text, metadata and the ids of its passages and
sentences."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qa.ingest import MetadataValue


@dataclass(frozen=True)
class StoredDocument:
    doc_id: str
    title: str
    source: str
    sha256: str
    text: str
    published: str | None = None  # ISO date
    metadata: dict[str, MetadataValue] = field(default_factory=dict)
    chunk_ids: tuple[int, ...] = ()
    sentence_ids: tuple[int, ...] = ()
    segment: str = ""  # name of the segment holding this version

    @property
    def n_chunks(self) -> int:
        return len(self.chunk_ids)

    def vector_ids(self, which: str) -> tuple[int, ...]:
        """Ids of the document's passages (``chunks``) or sentences (``sentences``)."""
        return self.chunk_ids if which == "chunks" else self.sentence_ids

    def record(self) -> dict[str, Any]:
        """The document's line in a segment's ``documents.jsonl``."""
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "source": self.source,
            "sha256": self.sha256,
            "published": self.published,
            "metadata": self.metadata,
            "text": self.text,
        }
