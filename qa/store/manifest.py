"""The manifest: the one file that says what an index is, and its only commit point.

A typed, immutable model of ``manifest.json``. A write never edits a manifest: it derives
the next one (:meth:`Manifest.after_write`, :meth:`Manifest.compacted`,
:meth:`Manifest.successor`) and commits it whole (see :mod:`qa.store.folder`).

The ``vectors`` record belongs to the vector backend that holds the index's vectors: the
store keeps it (``kind`` plus whatever the backend records) without reading it.

Format history: version 4 keeps the vector backend's record under ``vectors``; version 3
kept FAISS's index kinds under ``ann`` and the backend under ``vector_store``. Version 3
manifests are read and upgraded in memory; the next commit writes version 4.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

FORMAT_VERSION = 4
READABLE_VERSIONS = (3, 4)
METRIC = "cosine (inner product of L2-normalised vectors)"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FileRef(_Record):
    """A file of the index folder (path relative to it) and its SHA-256."""

    file: str
    sha256: str


class ModelInfo(_Record):
    """The embedding model an index was built with (a query must use the same)."""

    name: str
    dim: int
    backend: str
    query_prompt: str | None = None
    passage_prompt: str | None = None


class Chunking(_Record):
    size: int
    overlap: int
    unit: Literal["characters"] = "characters"

    @model_validator(mode="after")
    def _check(self) -> Chunking:
        if self.overlap >= self.size:
            raise ValueError(f"overlap ({self.overlap}) must be smaller than size ({self.size})")
        return self


class Counts(_Record):
    documents: int = 0
    chunks: int = 0
    sentences: int = 0

    def plus(self, other: Counts) -> Counts:
        return Counts(
            documents=self.documents + other.documents,
            chunks=self.chunks + other.chunks,
            sentences=self.sentences + other.sentences,
        )

    def minus(self, other: Counts) -> Counts:
        return self.plus(
            Counts(documents=-other.documents, chunks=-other.chunks, sentences=-other.sentences)
        )

    def of(self, which: str) -> int:
        """Passages (``chunks``) or sentences."""
        return self.chunks if which == "chunks" else self.sentences


class NextIds(_Record):
    """The first passage and sentence ids no committed write has used."""

    chunk: int = 0
    sentence: int = 0

    def of(self, which: str) -> int:
        return self.chunk if which == "chunks" else self.sentence


class SegmentEntry(_Record):
    """One segment: its files' checksums, its document count and those deleted since."""

    name: str
    files: dict[str, str]
    documents: int
    deleted: tuple[str, ...] = ()


class VectorsRecord(BaseModel):
    """The vector backend's record: its ``kind`` and whatever it keeps (index kinds, file
    references, collection names); read by that backend only."""

    model_config = ConfigDict(frozen=True, extra="allow")

    kind: str

    def state(self) -> dict[str, Any]:
        """Everything but ``kind``, for the backend to parse."""
        return dict(self.model_extra or {})


class Manifest(_Record):
    format_version: int = FORMAT_VERSION
    created: str
    updated: str
    generation: int = 0
    model: ModelInfo
    metric: str = METRIC
    language: str
    chunking: Chunking
    next_ids: NextIds = NextIds()
    counts: Counts = Counts()
    segments: tuple[SegmentEntry, ...] = ()
    vectors: VectorsRecord
    write_seconds: float | None = None
    # The second encoder whose passage vectors the segments keep (chunks.companion.npy).
    companion: str | None = None

    @classmethod
    def new(
        cls,
        model: ModelInfo,
        language: str,
        chunking: Chunking,
        vectors: VectorsRecord,
        generation: int = 0,
        companion: str | None = None,
    ) -> Manifest:
        """An empty index's manifest."""
        stamp = now()
        return cls(
            created=stamp,
            updated=stamp,
            generation=generation,
            model=model,
            language=language,
            chunking=chunking,
            vectors=vectors,
            companion=companion,
        )

    def successor(self, **changes: Any) -> Manifest:
        """The next state: ``changes`` applied, generation advanced."""
        return self.model_copy(
            update={"generation": self.generation + 1, "updated": now(), **changes}
        )

    def after_write(
        self,
        added: SegmentEntry | None,
        added_counts: Counts,
        removed: Mapping[str, Sequence[str]],
        removed_counts: Counts,
        vectors: VectorsRecord,
        seconds: float,
    ) -> Manifest:
        """The state after a write that adds the segment ``added`` (its documents, passages
        and sentences: ``added_counts``, all under new ids) and removes documents
        (``removed``: their ids by the segment holding them; ``removed_counts``). Segments
        whose every document is deleted leave the manifest."""
        segments = []
        for entry in self.segments:
            gone = removed.get(entry.name, ())
            if gone:
                entry = entry.model_copy(update={"deleted": (*entry.deleted, *gone)})
            if entry.documents > len(entry.deleted):
                segments.append(entry)
        if added is not None:
            segments.append(added)
        return self.successor(
            segments=tuple(segments),
            next_ids=NextIds(
                chunk=self.next_ids.chunk + added_counts.chunks,
                sentence=self.next_ids.sentence + added_counts.sentences,
            ),
            counts=self.counts.minus(removed_counts).plus(added_counts),
            vectors=vectors,
            write_seconds=round(seconds, 3),
        )

    def compacted(self, merged: SegmentEntry, names: Collection[str]) -> Manifest:
        """The same documents, those of the segments ``names`` now in the one segment
        ``merged``."""
        kept = tuple(s for s in self.segments if s.name not in names)
        return self.successor(segments=(*kept, merged))

    # ---------------------------------------------------------------- on disk
    def to_json(self) -> dict[str, Any]:
        """What ``manifest.json`` holds: the model and its own checksum."""
        body = self.model_dump(mode="json", exclude_none=True)
        return {**body, "checksum": checksum(body)}


class ManifestError(ValueError):
    """A ``manifest.json`` that cannot be read; the message says why."""


def checksum(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def parse(raw: Any) -> Manifest:
    """The manifest of a decoded ``manifest.json``, its format and checksum checked."""
    if not isinstance(raw, dict):
        raise ManifestError("is damaged (manifest.json is not a JSON object)")
    version = raw.get("format_version")
    if version not in READABLE_VERSIONS:
        raise ManifestError(
            f"has format version {version}, this version of qa reads "
            f"{', '.join(map(str, READABLE_VERSIONS))}"
        )
    body = {k: v for k, v in raw.items() if k != "checksum"}
    if raw.get("checksum") != checksum(body):
        raise ManifestError("is damaged (manifest.json fails its checksum)")
    if version == 3:
        body = _upgrade_v3(body)
    try:
        return Manifest.model_validate(body)
    except ValidationError as exc:
        raise ManifestError(f"is damaged (manifest.json: {exc.errors()[0]['msg']})") from exc


# Indexes written before there was a choice of vector store hold their vectors in FAISS.
_V3_VECTOR_STORE = {"kind": "faiss"}


def _upgrade_v3(body: dict[str, Any]) -> dict[str, Any]:
    """A version-3 manifest body as version 4: the backend record (``vector_store``) and
    FAISS's index kinds (``ann``) become one ``vectors`` record."""
    body = dict(body)
    store = body.pop("vector_store", None) or _V3_VECTOR_STORE
    kinds = body.pop("ann", None) or {}
    body["vectors"] = {**store, **kinds}
    body["format_version"] = FORMAT_VERSION
    return body
