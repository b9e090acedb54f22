"""Segments: batches of documents with their passages, sentences and vectors, written once.

Files of a segment folder::

    documents.jsonl     doc_id, title, source, sha256, published, metadata, text
    chunks.jsonl        id, chunk_id, doc_id, char_start, char_end
    chunks.npy          float32 passage vectors (L2-normalised), row i = line i above
    sentences.jsonl     id, doc_id, char_start, char_end, ids of the passages holding it
    sentences.npy       float32 sentence vectors
    chunks.companion.npy  float16 passage vectors of the second encoder (when the index
                        has one: manifest ``companion``)

Passage and sentence texts are not stored: they are sliced from the stored original text
when read, so a citation's offsets and its text cannot disagree.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qa.chunk import Chunk, Sentence
from qa.store.manifest import Counts, SegmentEntry
from qa.store.records import StoredDocument

SEGMENT_FILES = (
    "documents.jsonl",
    "chunks.jsonl",
    "chunks.npy",
    "sentences.jsonl",
    "sentences.npy",
)
COMPANION_FILE = "chunks.companion.npy"  # only in the segments of an index with a companion


@dataclass
class SegmentData:
    """Documents with their passages, sentences and vectors; ids are global and unique."""

    name: str
    documents: list[StoredDocument]
    chunk_ids: np.ndarray  # int64
    chunks: list[Chunk]
    chunk_vectors: np.ndarray  # float32, one row per chunk
    sentence_ids: np.ndarray
    sentences: list[Sentence]
    sentence_vectors: np.ndarray
    chunk_companion: np.ndarray | None = None  # float16, one row per chunk

    def row_documents(self, which: str) -> list[StoredDocument]:
        """The document of each passage (``chunks``) or sentence, in row order."""
        by_id = {d.doc_id: d for d in self.documents}
        rows: Sequence[Chunk | Sentence] = self.chunks if which == "chunks" else self.sentences
        return [by_id[row.doc_id] for row in rows]

    def vectors_of(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """Ids and vectors of the passages (``chunks``) or sentences (``sentences``)."""
        if which == "chunks":
            return self.chunk_ids, self.chunk_vectors
        return self.sentence_ids, self.sentence_vectors

    def counts(self) -> Counts:
        return Counts(
            documents=len(self.documents),
            chunks=len(self.chunks),
            sentences=len(self.sentences),
        )


def _jsonl(rows: Sequence[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def encode(data: SegmentData) -> dict[str, bytes]:
    """The files of a segment, by name."""
    chunks = [
        {
            "id": int(i),
            "chunk_id": c.chunk_id,
            "doc_id": c.doc_id,
            "char_start": c.char_start,
            "char_end": c.char_end,
        }
        for i, c in zip(data.chunk_ids, data.chunks, strict=True)
    ]
    sentences = [
        {
            "id": int(i),
            "doc_id": s.doc_id,
            "char_start": s.char_start,
            "char_end": s.char_end,
            "chunks": list(s.chunks),
        }
        for i, s in zip(data.sentence_ids, data.sentences, strict=True)
    ]
    files = {
        "documents.jsonl": _jsonl([d.record() for d in data.documents]),
        "chunks.jsonl": _jsonl(chunks),
        "chunks.npy": npy(data.chunk_vectors.astype(np.float32, copy=False)),
        "sentences.jsonl": _jsonl(sentences),
        "sentences.npy": npy(data.sentence_vectors.astype(np.float32, copy=False)),
    }
    if data.chunk_companion is not None:
        files[COMPANION_FILE] = npy(data.chunk_companion.astype(np.float16, copy=False))
    return files


def _lines(payload: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in payload.decode("utf-8").splitlines()]


def document_ids(entry: SegmentEntry, documents_jsonl: bytes) -> list[str]:
    """The ids of a segment's live documents, from its ``documents.jsonl`` alone."""
    deleted = set(entry.deleted)
    return [row["doc_id"] for row in _lines(documents_jsonl) if row["doc_id"] not in deleted]


def decode(entry: SegmentEntry, payload: dict[str, bytes]) -> SegmentData:
    """A segment's live documents (those the manifest does not list as deleted)."""
    deleted = set(entry.deleted)
    texts = {
        row["doc_id"]: row
        for row in _lines(payload["documents.jsonl"])
        if row["doc_id"] not in deleted
    }
    chunk_rows = [
        (i, r) for i, r in enumerate(_lines(payload["chunks.jsonl"])) if r["doc_id"] in texts
    ]
    sentence_rows = [
        (i, r) for i, r in enumerate(_lines(payload["sentences.jsonl"])) if r["doc_id"] in texts
    ]
    chunks = [
        Chunk(
            r["chunk_id"],
            r["doc_id"],
            texts[r["doc_id"]]["text"][r["char_start"] : r["char_end"]],
            r["char_start"],
            r["char_end"],
        )
        for _, r in chunk_rows
    ]
    sentences = [
        Sentence(r["doc_id"], r["char_start"], r["char_end"], tuple(r["chunks"]))
        for _, r in sentence_rows
    ]
    documents = _documents(entry.name, texts, chunk_rows, sentence_rows)
    return SegmentData(
        entry.name,
        documents,
        np.asarray([r["id"] for _, r in chunk_rows], dtype=np.int64),
        chunks,
        _rows(payload["chunks.npy"], [i for i, _ in chunk_rows]),
        np.asarray([r["id"] for _, r in sentence_rows], dtype=np.int64),
        sentences,
        _rows(payload["sentences.npy"], [i for i, _ in sentence_rows]),
        (
            _rows(payload[COMPANION_FILE], [i for i, _ in chunk_rows], np.float16)
            if COMPANION_FILE in payload
            else None
        ),
    )


def _documents(
    segment: str,
    texts: dict[str, dict[str, Any]],
    chunk_rows: list[tuple[int, dict[str, Any]]],
    sentence_rows: list[tuple[int, dict[str, Any]]],
) -> list[StoredDocument]:
    """The segment's live documents, each with the ids of its passages and sentences."""
    per_doc: dict[str, list[int]] = {d: [] for d in texts}
    for _, r in chunk_rows:
        per_doc[r["doc_id"]].append(r["id"])
    doc_sentences: dict[str, list[int]] = {d: [] for d in texts}
    for _, r in sentence_rows:
        doc_sentences[r["doc_id"]].append(r["id"])
    documents = [
        StoredDocument(
            r["doc_id"],
            r["title"],
            r["source"],
            r["sha256"],
            r["text"],
            r.get("published"),
            r.get("metadata") or {},
            tuple(per_doc[doc_id]),
            tuple(doc_sentences[doc_id]),
            segment,
        )
        for doc_id, r in texts.items()
    ]
    return documents


def _rows(payload: bytes, keep: list[int], dtype: type = np.float32) -> np.ndarray:
    vectors = np.load(io.BytesIO(payload), allow_pickle=False)
    return vectors[keep].astype(dtype, copy=False)
