"""Plan a write: compare the incoming documents with the stored ones by content hash, then
chunk and embed only what changed.

* new text (a new id, or an id whose text's hash changed): chunked, each passage and each
  of its sentences embedded;
* the same text with another title, source, date or metadata: the stored passages,
  sentences and vectors are reused under new ids (no embedding);
* everything the same: nothing to do (``unchanged``).

The plan is a new segment (ids assigned from the manifest's ``next_ids``), the documents
whose stored version leaves the index, and each document's result. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from qa.chunk import Chunk, Sentence, chunk_document, passage_sentences
from qa.core.errors import (
    DocumentNotFoundError,
    IngestError,
    ModelLoadError,
    WouldDropDocumentsError,
)
from qa.embed import Embedder
from qa.embed.companion import CompanionEncoder
from qa.index.lexical import export_postings
from qa.index.state import Index
from qa.ingest import Document
from qa.store import Manifest, SegmentData, StoredDocument
from qa.store.records import id_run

Status = Literal["new", "updated", "unchanged", "deleted"]


@dataclass(frozen=True)
class WriteResult:
    doc_id: str
    status: Status
    chunks: int  # passages the document is indexed as (0 once deleted)


@dataclass(frozen=True)
class WritePlan:
    segment: SegmentData | None  # what the write adds
    removed: tuple[str, ...]  # documents whose stored version leaves the index
    results: tuple[WriteResult, ...]  # one per document, in the request's order

    @property
    def empty(self) -> bool:
        return self.segment is None and not self.removed


def check_documents(documents: Sequence[Document]) -> None:
    """Every document has text to index, and no id comes twice."""
    for doc in documents:
        if not doc.segments:
            raise IngestError(
                f"document {doc.doc_id!r} has no text to index after cleaning (empty, or "
                "only boilerplate such as comment forms and source links)"
            )
    seen: set[str] = set()
    for doc in documents:
        if doc.doc_id in seen:
            raise IngestError(f"document id {doc.doc_id!r} appears twice in one request")
        seen.add(doc.doc_id)


def plan_upsert(
    index: Index,
    documents: Sequence[Document],
    embedder: Embedder,
    segment_name: str,
    progress: bool = False,
    companion: CompanionEncoder | None = None,
) -> WritePlan:
    """The plan adding or replacing ``documents`` (by id) in ``index``; the documents
    have passed :func:`check_documents`. ``companion``: the second encoder, for an index
    that keeps its passage vectors."""
    embed: list[Document] = []
    reuse: list[tuple[Document, StoredDocument]] = []
    unchanged: dict[str, WriteResult] = {}
    for doc in documents:
        old = index.documents.get(doc.doc_id)
        if old is None or old.sha256 != doc.sha256:
            embed.append(doc)
        elif (old.title, old.source, old.published, old.metadata) != (
            doc.title,
            doc.source,
            doc.published,
            doc.metadata,
        ):
            reuse.append((doc, old))
        else:
            unchanged[doc.doc_id] = WriteResult(doc.doc_id, "unchanged", old.n_chunks)
    segment = None
    if embed or reuse:
        builder = SegmentBuilder(index, segment_name)
        if embed:
            builder.embed(embed, embedder, progress, companion)
        for doc, old in reuse:
            builder.reuse(doc, old)
        segment = builder.build()
    changed = [*embed, *(doc for doc, _ in reuse)]
    replaced = tuple(d.doc_id for d in changed if d.doc_id in index.documents)
    results = []
    for doc in documents:
        if doc.doc_id in unchanged:
            results.append(unchanged[doc.doc_id])
        else:
            assert segment is not None
            stored = next(d for d in segment.documents if d.doc_id == doc.doc_id)
            status: Status = "updated" if doc.doc_id in index.documents else "new"
            results.append(WriteResult(doc.doc_id, status, stored.n_chunks))
    return WritePlan(segment, replaced, tuple(results))


Precondition = Callable[[Mapping[str, StoredDocument]], None]
"""Called with the committed documents at the moment a write commits; raises to refuse
the write (a conditional write: HTTP's ``If-Match``)."""


def unknown_document(doc_id: str) -> DocumentNotFoundError:
    return DocumentNotFoundError(
        f"no document with id {doc_id!r} in the collection "
        "(GET /documents or `qa list` shows the ids)"
    )


def refuse_dropping(where: str, dropped: Sequence[str]) -> None:
    """Refuse a rebuild that would drop the documents ``dropped`` (only the collection
    ``where`` holds them), unless told to replace it."""
    if dropped:
        named = ", ".join(repr(d) for d in dropped[:3]) + (", …" if len(dropped) > 3 else "")
        raise WouldDropDocumentsError(
            f"{where} holds {len(dropped)} document(s) the sources do not ({named}); "
            "rebuilding would drop them: add the sources with `qa add` instead, or pass "
            "--replace to rebuild from the sources alone"
        )


def plan_delete(index: Index, doc_ids: Sequence[str]) -> WritePlan:
    """The plan deleting ``doc_ids``; an unknown id fails the whole plan."""
    missing = [d for d in doc_ids if d not in index.documents]
    if missing:
        raise unknown_document(missing[0])
    unique = tuple(dict.fromkeys(doc_ids))
    return WritePlan(None, unique, tuple(WriteResult(d, "deleted", 0) for d in unique))


def segments_to_merge(manifest: Manifest, most: int) -> set[str]:
    """Past ``most`` segments, the smaller half (by live documents) to merge into one;
    otherwise none."""
    if len(manifest.segments) <= most:
        return set()
    by_size = sorted(manifest.segments, key=lambda e: e.documents - len(e.deleted))
    return {e.name for e in by_size[: len(by_size) - most // 2]}


def plan_compaction(index: Index, name: str, segments: Collection[str]) -> SegmentData:
    """The live documents of ``segments`` in one segment ``name``, under the ids their
    passages and sentences have (merging segments changes nothing else)."""
    docs = [d.doc_id for d in index.documents.values() if d.segment in segments]
    keep = set(index.documents) - set(docs)
    chunks, sentences = index.rows("chunks", keep), index.rows("sentences", keep)
    return SegmentData.of(
        name,
        [replace(index.documents[d], segment=name) for d in docs],
        chunks.ids,
        [index.chunks[c] for c in chunks.ids.tolist()],
        chunks.vectors,
        sentences.ids,
        [index.sentences[s] for s in sentences.ids.tolist()],
        sentences.vectors,
        index.companion.of(chunks.ids.tolist()) if index.companion is not None else None,
        export_postings(index.lexical, chunks.ids),
    )


class SegmentBuilder:
    """Collects a new segment's passages, sentences and vectors under fresh ids."""

    def __init__(self, index: Index, name: str) -> None:
        self.index, self.name = index, name
        self.first_chunk = index.manifest.next_ids.chunk
        self.first_sentence = index.manifest.next_ids.sentence
        self.documents: list[Document] = []
        self.chunks: list[Chunk] = []
        self.sentences: list[Sentence] = []
        self.chunk_vectors: list[np.ndarray] = []
        self.sentence_vectors: list[np.ndarray] = []
        self.companion_vectors: list[np.ndarray] = []  # when the index has a companion

    def embed(
        self,
        documents: Sequence[Document],
        embedder: Embedder,
        progress: bool,
        companion: CompanionEncoder | None = None,
    ) -> None:
        """Chunk ``documents`` and embed their passages and sentences (and the passages
        with ``companion`` too, when the index keeps its vectors)."""
        chunking = self.index.manifest.chunking
        chunks: list[Chunk] = []
        for doc in documents:
            doc_chunks = chunk_document(doc, chunking.size, chunking.overlap)
            if not doc_chunks:
                raise IngestError(f"document {doc.doc_id!r} has no text to index")
            chunks.extend(doc_chunks)
        first = self.first_chunk + len(self.chunks)
        sentences = passage_sentences(chunks, range(first, first + len(chunks)))
        texts = {d.doc_id: d.text for d in documents}
        vectors = embedder.encode_passages([c.text for c in chunks], progress=progress)
        if vectors.shape[0] != len(chunks):
            raise ValueError(f"embedder returned {vectors.shape} for {len(chunks)} passages")
        self.chunk_vectors.append(vectors.reshape(-1, embedder.dim))
        self.sentence_vectors.append(
            embedder.encode_passages(
                [texts[s.doc_id][s.char_start : s.char_end] for s in sentences], progress=progress
            ).reshape(-1, embedder.dim)
        )
        if self.index.companion is not None:
            if companion is None:
                raise ModelLoadError(
                    "this index keeps the second encoder's passage vectors: write to it with "
                    "that encoder"
                )
            passages = [c.text for c in chunks]
            self.companion_vectors.append(companion.encode(passages, progress=progress))
        self.documents.extend(documents)
        self.chunks.extend(chunks)
        self.sentences.extend(sentences)

    def reuse(self, document: Document, old: StoredDocument) -> None:
        """Same text and chunking: the stored passages, sentences and vectors of ``old``,
        under new ids."""
        first = self.first_chunk + len(self.chunks)
        remap = {c: first + k for k, c in enumerate(old.chunk_ids)}
        self.chunks.extend(self.index.chunks[c] for c in old.chunk_ids)
        self.chunk_vectors.append(self.index.vectors_of("chunks", old.chunk_ids))
        for sid in old.sentence_ids:
            s = self.index.sentences[sid]
            self.sentences.append(replace(s, chunks=tuple(remap[c] for c in s.chunks)))
        self.sentence_vectors.append(self.index.vectors_of("sentences", old.sentence_ids))
        if self.index.companion is not None:
            self.companion_vectors.append(self.index.companion.of(old.chunk_ids))
        self.documents.append(document)

    def build(self) -> SegmentData:
        chunk_ids = list(range(self.first_chunk, self.first_chunk + len(self.chunks)))
        sentence_ids = list(range(self.first_sentence, self.first_sentence + len(self.sentences)))
        per_doc: dict[str, list[int]] = {d.doc_id: [] for d in self.documents}
        for cid, chunk in zip(chunk_ids, self.chunks, strict=True):
            per_doc[chunk.doc_id].append(cid)
        per_doc_sentences: dict[str, list[int]] = {d.doc_id: [] for d in self.documents}
        for sid, sentence in zip(sentence_ids, self.sentences, strict=True):
            per_doc_sentences[sentence.doc_id].append(sid)
        stored = [
            StoredDocument(
                d.doc_id,
                d.title,
                d.source,
                d.sha256,
                d.text,
                d.published,
                dict(d.metadata),
                id_run(per_doc[d.doc_id]),
                id_run(per_doc_sentences[d.doc_id]),
                self.name,
                d.pages,
            )
            for d in self.documents
        ]
        return SegmentData.of(
            self.name,
            stored,
            np.asarray(chunk_ids, dtype=np.int64),
            self.chunks,
            _stack(self.chunk_vectors),
            np.asarray(sentence_ids, dtype=np.int64),
            self.sentences,
            _stack(self.sentence_vectors),
            _stack(self.companion_vectors) if self.index.companion is not None else None,
            self.index.lexical.terms_of.postings(c.text for c in self.chunks),
        )


def _stack(parts: list[np.ndarray]) -> np.ndarray:
    return np.ascontiguousarray(np.vstack(parts), dtype=np.float32)
