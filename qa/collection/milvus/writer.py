"""Writes to a replicated collection: every replica may write, and none holds a lock.

A document version is written in this order:

1. its text parts, sentences and passages, under ids of the new version
   (:func:`~qa.collection.milvus.schema.new_version`) — no reader serves them yet: a reader keeps a
   passage only when its version is its document's head's;
2. its head, in the documents collection — the commit: one upsert request, so a reader
   sees the old version or the new, whole;
3. the rows of the version it replaced are deleted: its passages at once, its sentences
   and texts at once too or, on a serving replica, a while later
   (:mod:`qa.collection.milvus.retire`).

A replica killed before 2 leaves rows no head names: never served, and removed by the next
write of that document once they are older than :data:`STALE` (younger ones may belong to
a write another replica has under way). Deleting is the same the other way round: the head
goes first. Two replicas writing the same document at the same moment: the head written
last wins, and the other version's rows are left unserved until then.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from qa.chunk import Chunk, Sentence, chunk_document, passage_sentences
from qa.collection.milvus.catalog import Catalog, in_list
from qa.collection.milvus.retire import READ_BY_ID
from qa.collection.milvus.schema import (
    MAX_HELD,
    PLACEHOLDER,
    TEXT_PART,
    VERSION_STRIDE,
    encode_terms,
    new_version,
)
from qa.collection.milvus.view import stored_document
from qa.core.errors import IngestError, ModelLoadError
from qa.embed import Embedder
from qa.index.planner import Precondition, Status, WriteResult, unknown_document
from qa.index.state import Index
from qa.index.terms import Terms
from qa.ingest import Document
from qa.milvus.expressions import document_fields
from qa.store import Chunking, StoredDocument

GROUP = 32  # documents embedded and committed together (progress, bounded memory)
STALE = 3_600  # seconds after which rows no head names are taken as left by a dead write
ROW_KINDS = ("texts", "sentences", "passages")


@dataclass(frozen=True)
class Version:
    """One document version's rows, ready to write."""

    doc: Document | StoredDocument
    version: int
    chunks: list[Chunk]
    sentences: list[Sentence]
    chunk_vectors: np.ndarray
    sentence_vectors: np.ndarray
    written: int  # seconds since the epoch

    @property
    def parts(self) -> int:
        """How many text rows the document's text takes."""
        return max(1, -(-len(self.doc.text) // TEXT_PART))

    def head(self) -> dict[str, Any]:
        doc = self.doc
        return {
            "key": doc.doc_id,
            "vector": PLACEHOLDER,
            **self._filter_fields(),
            "written": self.written,
            "head": {
                "title": doc.title,
                "sha256": doc.sha256,
                "published": doc.published,
                "metadata": dict(doc.metadata),
                "chunks": len(self.chunks),
                "sentences": len(self.sentences),
                "parts": self.parts,
                "pages": list(doc.pages),
            },
        }

    def _filter_fields(self) -> dict[str, Any]:
        return {**document_fields(self.doc), "version": self.version}

    def texts(self) -> list[dict[str, Any]]:
        text = self.doc.text
        return [
            {
                "key": f"{self.version}.{n}",
                "vector": PLACEHOLDER,
                "doc_id": self.doc.doc_id,
                "version": self.version,
                "written": self.written,
                "text": text[n * TEXT_PART : (n + 1) * TEXT_PART],
            }
            for n in range(self.parts)
        ]

    def passages(self, terms: Callable[[str], list[str]]) -> list[dict[str, Any]]:
        base, fields = self.version, self._filter_fields()
        held: list[list[int]] = [[] for _ in self.chunks]
        for n, sentence in enumerate(self.sentences):
            for cid in sentence.chunks:
                held[cid - base].append(base + n)
        return [
            {
                "id": base + n,
                "vector": self.chunk_vectors[n].tolist(),
                **fields,
                "written": self.written,
                "number": n,
                "char_start": chunk.char_start,
                "char_end": chunk.char_end,
                "text": chunk.text,
                "sentences": held[n],
                "terms": encode_terms(terms(chunk.text)),
            }
            for n, chunk in enumerate(self.chunks)
        ]

    def sentence_rows(self, terms: Callable[[str], list[str]]) -> list[dict[str, Any]]:
        text, base = self.doc.text, self.version
        return [
            {
                "id": base + n,
                "vector": self.sentence_vectors[n].tolist(),
                "doc_id": self.doc.doc_id,
                "version": base,
                "written": self.written,
                "char_start": s.char_start,
                "char_end": s.char_end,
                "chunks": list(s.chunks),
                "terms": " ".join(sorted(set(terms(text[s.char_start : s.char_end])))),
            }
            for n, s in enumerate(self.sentences)
        ]


def split(doc: Document, chunking: Chunking, version: int) -> tuple[list[Chunk], list[Sentence]]:
    """The passages and sentences of ``doc``, the passages' ids from ``version`` on."""
    chunks = chunk_document(doc, chunking.size, chunking.overlap)
    if not chunks:
        raise IngestError(f"document {doc.doc_id!r} has no text to index")
    sentences = passage_sentences(chunks, range(version, version + len(chunks)))
    if max(len(chunks), len(sentences)) >= VERSION_STRIDE:
        raise IngestError(f"document {doc.doc_id!r} is too long for one document version")
    if any(len(s.chunks) > MAX_HELD for s in sentences):
        raise IngestError(f"document {doc.doc_id!r} has a sentence in too many passages")
    return chunks, sentences


class ReplicaWriter:
    """Adds, replaces and deletes documents of a replicated collection."""

    def __init__(
        self,
        catalog: Catalog,
        chunking: Chunking,
        lexicon: Terms,
        embedder: Embedder | None,
        retire: Callable[[Sequence[int]], None] | None = None,
    ) -> None:
        self.catalog, self.chunking, self.lexicon = catalog, chunking, lexicon
        self.embedder = embedder
        self.retire = retire  # deletes a replaced version's texts and sentences (None: now)

    def _terms(self, text: str) -> list[str]:
        return self.lexicon.tokens([text])[0]

    def upsert(
        self,
        documents: Sequence[Document],
        progress: Callable[[int], None] | None = None,
        precondition: Precondition | None = None,
    ) -> list[WriteResult]:
        """Add or replace ``documents`` (by id); unchanged ones cost nothing; each group of
        :data:`GROUP` documents is committed as it is embedded, if ``precondition`` holds
        on the heads read just before its commit."""
        heads = self.catalog.heads([d.doc_id for d in documents])
        if precondition is not None:  # before embedding; and an unchanged one is not written
            precondition(self._documents(heads))
        results: dict[str, WriteResult] = {}
        pending: list[Document] = []
        for doc in documents:
            head = heads.get(doc.doc_id)
            if head is not None and _same(head, doc):
                results[doc.doc_id] = WriteResult(doc.doc_id, "unchanged", head["head"]["chunks"])
            else:
                pending.append(doc)
        for start in range(0, len(pending), GROUP):
            group = pending[start : start + GROUP]
            versions = self._versions(group, heads)
            self._write(versions, precondition)
            for v in versions:
                status: Status = "updated" if v.doc.doc_id in heads else "new"
                results[v.doc.doc_id] = WriteResult(v.doc.doc_id, status, len(v.chunks))
            if progress is not None:
                progress(len(group))
        return [results[d.doc_id] for d in documents]

    def delete(
        self, doc_ids: Sequence[str], precondition: Precondition | None = None
    ) -> list[WriteResult]:
        """Delete documents; an unknown id, or a ``precondition`` that fails on their
        heads, fails the whole call before anything changes."""
        unique = list(dict.fromkeys(doc_ids))
        heads = self.catalog.heads(unique)
        if precondition is not None:
            precondition(self._documents(heads))
        missing = [d for d in unique if d not in heads]
        if missing:
            raise unknown_document(missing[0])
        self.catalog.delete("documents", in_list("key", unique))
        self.catalog.flush(["documents"])
        self._drop_versions([int(h["version"]) for h in heads.values()])
        return [WriteResult(d, "deleted", 0) for d in unique]

    def _versions(self, group: Sequence[Document], heads: dict[str, Any]) -> list[Version]:
        """New versions of ``group``: chunked, and embedded unless only the metadata changed
        (then the stored vectors are copied)."""
        split_up = []
        for doc in group:
            version = new_version()
            split_up.append((doc, version, *split(doc, self.chunking, version)))
        embed = [
            item
            for item in split_up
            if item[0].doc_id not in heads
            or heads[item[0].doc_id]["head"]["sha256"] != item[0].sha256
        ]
        vectors = self._embed(embed)
        written = int(time.time())
        out = []
        for doc, version, chunks, sentences in split_up:
            if doc.doc_id in vectors:
                chunk_vectors, sentence_vectors = vectors[doc.doc_id]
            else:
                old = int(heads[doc.doc_id]["version"])
                chunk_vectors = self._stored("passages", old, len(chunks))
                sentence_vectors = self._stored("sentences", old, len(sentences))
            out.append(
                Version(doc, version, chunks, sentences, chunk_vectors, sentence_vectors, written)
            )
        return out

    def _embed(
        self, items: Sequence[tuple[Document, int, list[Chunk], list[Sentence]]]
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        if not items:
            return {}
        if self.embedder is None:
            raise ModelLoadError("this replica was opened without a model; it cannot embed")
        chunk_texts = [c.text for _, _, chunks, _ in items for c in chunks]
        sentence_texts = [
            doc.text[s.char_start : s.char_end] for doc, _, _, sentences in items for s in sentences
        ]
        dim = self.embedder.dim
        chunk_vectors = self.embedder.encode_passages(chunk_texts).reshape(-1, dim)
        sentence_vectors = (
            self.embedder.encode_passages(sentence_texts).reshape(-1, dim)
            if sentence_texts
            else np.zeros((0, dim), dtype=np.float32)
        )
        out, c, s = {}, 0, 0
        for doc, _, chunks, sentences in items:
            out[doc.doc_id] = (
                chunk_vectors[c : c + len(chunks)],
                sentence_vectors[s : s + len(sentences)],
            )
            c, s = c + len(chunks), s + len(sentences)
        return out

    def copy(self, index: Index, progress: Callable[[int], None] | None = None) -> None:
        """Every document of an index folder's ``index``, under new versions: its passages,
        sentences and vectors as they are (none re-embedded)."""
        documents = list(index.documents.values())
        for start in range(0, len(documents), GROUP):
            group = documents[start : start + GROUP]
            self._write([copied(index, doc, new_version()) for doc in group])
            if progress is not None:
                progress(len(group))

    def _stored(self, kind: str, version: int, count: int) -> np.ndarray:
        """The vectors of a stored version's ``count`` passages or sentences, in order."""
        rows = self.catalog.get(kind, range(version, version + count), ["vector"])
        by_id = {int(r["id"]): r["vector"] for r in rows}
        if len(by_id) != count:
            raise IngestError("a stored document changed while it was being updated; try again")
        return np.asarray([by_id[version + n] for n in range(count)], dtype=np.float32)

    def _documents(self, heads: dict[str, dict[str, Any]]) -> dict[str, StoredDocument]:
        return {doc_id: stored_document(self.catalog, row) for doc_id, row in heads.items()}

    def _write(self, versions: Sequence[Version], precondition: Precondition | None = None) -> None:
        catalog = self.catalog
        # a new version's ids are its own: nothing to replace
        catalog.insert("texts", [row for v in versions for row in v.texts()])
        catalog.insert("sentences", [row for v in versions for row in v.sentence_rows(self._terms)])
        catalog.insert("passages", [row for v in versions for row in v.passages(self._terms)])
        catalog.flush(ROW_KINDS)
        # the versions being replaced, read just before the commit
        before = catalog.heads([v.doc.doc_id for v in versions])
        if precondition is not None:
            try:
                precondition(self._documents(before))
            except Exception:  # refused: the new rows were never served
                drop_rows(catalog, ROW_KINDS, [v.version for v in versions])
                raise
        catalog.upsert("documents", [v.head() for v in versions])  # the commit
        catalog.flush(["documents"])
        stale = (
            f"{in_list('doc_id', [v.doc.doc_id for v in versions])} and "
            f"not ({in_list('version', [v.version for v in versions])}) and "
            f"written < {int(time.time()) - STALE}"
        )
        self._drop_versions([int(h["version"]) for h in before.values()], stale)

    def _drop_versions(self, versions: Sequence[int], stale: str | None = None) -> None:
        """Delete the rows of ``versions`` (their texts and sentences through
        :attr:`retire`, when set) and those ``stale`` selects."""
        if self.retire is None:
            drop_rows(self.catalog, ROW_KINDS, versions, stale)
            return
        drop_rows(self.catalog, ("passages",), versions, stale)
        if stale and versions:  # an hour-old version replaced now is kept a while too
            stale = f"({stale}) and not ({in_list('version', versions)})"
        drop_rows(self.catalog, READ_BY_ID, [], stale)
        self.retire(versions)


def drop_rows(
    catalog: Catalog, kinds: Sequence[str], versions: Sequence[int], stale: str | None = None
) -> None:
    """Delete the ``kinds`` rows of ``versions`` and those ``stale`` selects."""
    expressions = [in_list("version", versions)] if versions else []
    expressions += [stale] if stale else []
    if not expressions:
        return
    expression = " or ".join(f"({e})" for e in expressions)
    for kind in kinds:
        catalog.delete(kind, expression)
    catalog.flush(kinds)


def copied(index: Index, doc: StoredDocument, version: int) -> Version:
    """``doc`` of ``index`` as a new version: its passages, sentences and vectors."""
    position = {cid: n for n, cid in enumerate(doc.chunk_ids)}
    sentences = [index.sentences[s] for s in doc.sentence_ids]
    return Version(
        doc,
        version,
        [index.chunks[c] for c in doc.chunk_ids],
        [replace(s, chunks=tuple(version + position[c] for c in s.chunks)) for s in sentences],
        index.vectors_of("chunks", list(doc.chunk_ids)),
        index.vectors_of("sentences", list(doc.sentence_ids)),
        int(time.time()),
    )


def _same(head: dict[str, Any], doc: Document) -> bool:
    """Whether a stored head is ``doc`` as it is (text and every field)."""
    h = head["head"]
    return (h["sha256"], h["title"], head["source"], h["published"], h["metadata"]) == (
        doc.sha256,
        doc.title,
        doc.source,
        doc.published,
        dict(doc.metadata),
    )
