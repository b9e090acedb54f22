"""A document as the index keeps it: its text, metadata and the ids of its passages and
sentences."""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from qa.ingest import MetadataValue


class TextSource(Protocol):
    """Where a document's text is read from when it is not held in memory."""

    def read(self) -> str: ...


def id_run(ids: Sequence[int]) -> Sequence[int]:
    """``ids`` as a ``range`` when they are consecutive (as a document's passage and
    sentence ids are when written: 48 bytes however many), else as a tuple."""
    if (
        len(ids) > 1
        and ids[-1] - ids[0] + 1 == len(ids)
        and list(ids) == [*range(ids[0], ids[-1] + 1)]
    ):
        return range(ids[0], ids[-1] + 1)
    return tuple(ids)


@dataclass(frozen=True, slots=True)
class TextRef:
    """A document's text in a segment's texts file (its UTF-8 bytes ``start:end``), read
    and decoded on each use: a loaded index keeps no copy of it."""

    buffer: Any  # an open segment file (qa.store.ondisk.SegmentFile), or bytes
    start: int
    end: int

    def read(self) -> str:
        return bytes(self.buffer[self.start : self.end]).decode("utf-8")


@dataclass(frozen=True, slots=True)
class StoredDocument:
    doc_id: str
    title: str
    source: str
    sha256: str
    body: str | TextSource  # the text, or where to read it from (:attr:`text`)
    published: str | None = None  # ISO date
    metadata: dict[str, MetadataValue] = field(default_factory=dict)
    chunk_ids: Sequence[int] = ()
    sentence_ids: Sequence[int] = ()
    segment: str = ""  # name of the segment holding this version
    pages: Sequence[int] = ()  # where each page (or slide) starts in the text; () unpaged

    @property
    def text(self) -> str:
        """The document's text (read from its segment when the index does not hold it)."""
        return self.body if isinstance(self.body, str) else self.body.read()

    @property
    def n_chunks(self) -> int:
        return len(self.chunk_ids)

    def vector_ids(self, which: str) -> Sequence[int]:
        """Ids of the document's passages (``chunks``) or sentences (``sentences``)."""
        return self.chunk_ids if which == "chunks" else self.sentence_ids

    def info(self) -> dict[str, Any]:
        """The document's fields but its text and ids."""
        info = {
            "doc_id": self.doc_id,
            "title": self.title,
            "source": self.source,
            "sha256": self.sha256,
            "published": self.published,
            "metadata": self.metadata,
        }
        return info | {"pages": list(self.pages)} if self.pages else info

    @property
    def etag(self) -> str:
        """A tag of this version of the document — text, title, source, date, metadata
        and pages — for conditional writes (HTTP's ``ETag`` / ``If-Match``)."""
        info = json.dumps(self.info(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(info.encode("utf-8")).hexdigest()[:32]

    def pages_of(self, char_start: int, char_end: int) -> list[int] | None:
        """The pages (numbered from 1) a span of the text lies on; ``None`` when the
        document has no pages."""
        if not self.pages:
            return None
        first = bisect.bisect_right(self.pages, char_start)
        last = bisect.bisect_right(self.pages, max(char_start, char_end - 1))
        return list(range(max(first, 1), max(last, 1) + 1))
