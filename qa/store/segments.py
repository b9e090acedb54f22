"""Segments: batches of documents with their passages, sentences and vectors, written once.

Files of a segment folder::

    documents.jsonl      doc_id, title, source, sha256, published, metadata, and where its
                         text is in texts.txt (``text_at``: UTF-8 byte offsets)
    texts.txt            the documents' texts, one after another
    chunks.table.npy     one row per passage: id, document (line of documents.jsonl),
                         char_start, char_end, number in its document, BM25 token count
    chunks.npy           float32 passage vectors (L2-normalised), row i = passage row i
    sentences.table.npy  one row per sentence: id, document, char_start, char_end, and how
                         many passages hold it
    sentences.holders.npy  the ids of those passages, sentence after sentence
    sentences.npy        float32 sentence vectors
    postings.npy         BM25 postings: term (line of terms.txt), passage row, frequency
    terms.txt            the stemmed terms the postings name, one a line
    chunks.companion.npy float16 passage vectors of the second encoder (when the index
                         has one: manifest ``companion``)

Every file but documents.jsonl is an array or raw text, so opening a segment parses one
JSON line per document and nothing per passage or sentence: the tables become columns, the
vectors and texts stay on disk (read from the page cache when used: :mod:`qa.store.ondisk`),
and the postings are merged without tokenising again.

Passage and sentence texts are not stored: they are sliced from the stored original text
when read, so a citation's offsets and its text cannot disagree. Segments of the earlier
layout (JSON rows per passage and sentence, texts inside documents.jsonl) still load.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, overload

import numpy as np

from qa.chunk import Chunk, Sentence
from qa.store.manifest import Counts, SegmentEntry
from qa.store.ondisk import FileVectors, SegmentFile, npy_header
from qa.store.records import StoredDocument, TextRef, id_run

SEGMENT_FILES = (
    "documents.jsonl",
    "texts.txt",
    "chunks.table.npy",
    "chunks.npy",
    "sentences.table.npy",
    "sentences.holders.npy",
    "sentences.npy",
    "postings.npy",
    "terms.txt",
)
# files left on disk and read when used (:mod:`qa.store.ondisk`) rather than loaded
ON_DISK_FILES = ("texts.txt", "chunks.npy", "sentences.npy")
COMPANION_FILE = "chunks.companion.npy"  # only in the segments of an index with a companion
LEGACY_FILES = ("documents.jsonl", "chunks.jsonl", "chunks.npy", "sentences.jsonl", "sentences.npy")

CHUNK_ROW = np.dtype(
    [
        ("id", "<i8"),
        ("doc", "<i4"),
        ("start", "<i4"),
        ("end", "<i4"),
        ("number", "<i4"),
        ("length", "<i4"),
    ]
)
SENTENCE_ROW = np.dtype(
    [("id", "<i8"), ("doc", "<i4"), ("start", "<i4"), ("end", "<i4"), ("holders", "<i4")]
)
POSTING = np.dtype([("term", "<i4"), ("row", "<i4"), ("tf", "<u2")])


@dataclass(frozen=True)
class Postings:
    """BM25 postings of a segment's passages: ``words`` is the segment's own vocabulary;
    posting i says passage row ``row[i]`` holds ``words[term[i]]`` ``tf[i]`` times;
    ``lengths`` is each passage row's token count."""

    words: Sequence[str]
    term: np.ndarray  # int32
    row: np.ndarray  # int32
    tf: np.ndarray  # uint16
    lengths: np.ndarray  # int32, one per passage row

    def rows(self, keep: np.ndarray) -> Postings:
        """The postings of passage rows ``keep`` (sorted), renumbered 0..len(keep)-1."""
        new = np.full(len(self.lengths), -1, dtype=np.int64)
        new[keep] = np.arange(len(keep))
        mapped = new[self.row]
        live = mapped >= 0
        return Postings(
            self.words,
            self.term[live],
            mapped[live].astype(np.int32),
            self.tf[live],
            self.lengths[keep],
        )


@dataclass
class SegmentData:
    """Documents with their passages, sentences and vectors, as columns; ids are global and
    unique. ``chunk_vectors`` and ``sentence_vectors`` may hold more rows than the live
    passages and sentences (a segment read from disk maps all of its file): ``chunk_rows``
    and ``sentence_rows`` say which rows are live (``None``: all)."""

    name: str
    documents: list[StoredDocument]
    chunk_ids: np.ndarray  # int64
    chunk_docs: np.ndarray  # the document id of each passage (objects)
    chunk_spans: np.ndarray  # int32 (n, 2): char_start, char_end
    chunk_numbers: np.ndarray  # int32: the passage's number in its document
    chunk_vectors: np.ndarray | FileVectors  # float32
    sentence_ids: np.ndarray
    sentence_docs: np.ndarray
    sentence_spans: np.ndarray
    holders_ptr: np.ndarray  # int64 (n + 1): sentence i is held by holders[ptr[i]:ptr[i+1]]
    holders: np.ndarray  # int64 passage ids
    sentence_vectors: np.ndarray | FileVectors
    chunk_companion: np.ndarray | None = None  # float16, one row per passage
    postings: Postings | None = None  # None: tokenise the passages when loading
    chunk_rows: np.ndarray | None = None
    sentence_rows: np.ndarray | None = None
    _documents_by_id: dict[str, StoredDocument] = field(default_factory=dict, repr=False)

    @classmethod
    def of(
        cls,
        name: str,
        documents: list[StoredDocument],
        chunk_ids: np.ndarray,
        chunks: Sequence[Chunk],
        chunk_vectors: np.ndarray,
        sentence_ids: np.ndarray,
        sentences: Sequence[Sentence],
        sentence_vectors: np.ndarray,
        chunk_companion: np.ndarray | None = None,
        postings: Postings | None = None,
    ) -> SegmentData:
        """A segment from passage and sentence objects."""
        counts = np.fromiter((len(s.chunks) for s in sentences), np.int64, len(sentences))
        return cls(
            name,
            documents,
            np.asarray(chunk_ids, dtype=np.int64),
            _objects([c.doc_id for c in chunks]),
            _spans([(c.char_start, c.char_end) for c in chunks]),
            np.asarray([int(c.chunk_id.rpartition("#")[2]) for c in chunks], dtype=np.int32),
            chunk_vectors,
            np.asarray(sentence_ids, dtype=np.int64),
            _objects([s.doc_id for s in sentences]),
            _spans([(s.char_start, s.char_end) for s in sentences]),
            np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            np.asarray([c for s in sentences for c in s.chunks], dtype=np.int64),
            sentence_vectors,
            chunk_companion,
            postings,
        )

    # ----------------------------------------------------------------- reading
    def document(self, doc_id: str) -> StoredDocument:
        if not self._documents_by_id:
            self._documents_by_id.update((d.doc_id, d) for d in self.documents)
        return self._documents_by_id[doc_id]

    @property
    def chunks(self) -> list[Chunk]:
        """The passages as objects (texts sliced from their documents)."""
        texts = {d.doc_id: d.text for d in self.documents}
        return [
            Chunk(f"{d}#{n}", d, texts[d][a:b], a, b)
            for d, n, (a, b) in zip(
                self.chunk_docs, self.chunk_numbers.tolist(), self.chunk_spans.tolist(), strict=True
            )
        ]

    @property
    def sentences(self) -> list[Sentence]:
        ptr, held = self.holders_ptr.tolist(), self.holders.tolist()
        return [
            Sentence(d, a, b, tuple(held[ptr[i] : ptr[i + 1]]))
            for i, (d, (a, b)) in enumerate(
                zip(self.sentence_docs, self.sentence_spans.tolist(), strict=True)
            )
        ]

    def passage_texts(self) -> Iterator[str]:
        """Each passage's text, in row order."""
        texts: dict[str, str] = {}
        for d, (a, b) in zip(self.chunk_docs, self.chunk_spans.tolist(), strict=True):
            if d not in texts:
                texts = {d: self.document(d).text}  # rows come document by document
            yield texts[d][a:b]

    def row_documents(self, which: str) -> RowDocuments:
        """The document of each passage (``chunks``) or sentence, in row order."""
        return RowDocuments(self, self.chunk_docs if which == "chunks" else self.sentence_docs)

    def vectors_of(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """Ids and vectors of the live passages (``chunks``) or sentences (``sentences``)."""
        ids, block, rows = self.vector_block(which)
        return ids, np.asarray(block if rows is None else block[rows], dtype=np.float32)

    def vector_block(
        self, which: str
    ) -> tuple[np.ndarray, np.ndarray | FileVectors, np.ndarray | None]:
        """Ids of the live passages (or sentences), the vectors array holding them, and
        their rows in it (``None``: every row, in order)."""
        if which == "chunks":
            return self.chunk_ids, self.chunk_vectors, self.chunk_rows
        return self.sentence_ids, self.sentence_vectors, self.sentence_rows

    def counts(self) -> Counts:
        return Counts(
            documents=len(self.documents),
            chunks=len(self.chunk_ids),
            sentences=len(self.sentence_ids),
        )


class RowDocuments(Sequence[StoredDocument]):
    """The document of each row of a segment, looked up when read (no list per row)."""

    def __init__(self, segment: SegmentData, doc_ids: np.ndarray) -> None:
        self.segment, self.doc_ids = segment, doc_ids

    def __len__(self) -> int:
        return len(self.doc_ids)

    @overload
    def __getitem__(self, i: int) -> StoredDocument: ...
    @overload
    def __getitem__(self, i: slice) -> list[StoredDocument]: ...
    def __getitem__(self, i: int | slice) -> StoredDocument | list[StoredDocument]:
        if isinstance(i, slice):
            return [self.segment.document(d) for d in self.doc_ids[i]]
        return self.segment.document(self.doc_ids[i])


def _objects(values: list[str]) -> np.ndarray:
    """``values`` as an object array, equal strings as one object."""
    one: dict[str, str] = {}
    out = np.empty(len(values), dtype=object)
    out[:] = [one.setdefault(v, v) for v in values]
    return out


def _spans(pairs: list[tuple[int, int]]) -> np.ndarray:
    return np.asarray(pairs, dtype=np.int32).reshape(-1, 2)


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def encode(data: SegmentData) -> dict[str, bytes]:
    """The files of a segment, by name (its postings must be computed)."""
    assert data.postings is not None, "a segment is written with its BM25 postings"
    doc_row = {d.doc_id: i for i, d in enumerate(data.documents)}
    texts = [d.text.encode("utf-8") for d in data.documents]
    lines = [
        json.dumps({**d.info(), "text_at": list(span)}, ensure_ascii=False)
        for d, span in zip(data.documents, _text_spans(texts), strict=True)
    ]
    chunks = np.zeros(len(data.chunk_ids), dtype=CHUNK_ROW)
    chunks["id"] = data.chunk_ids
    chunks["doc"] = [doc_row[d] for d in data.chunk_docs]
    chunks["start"], chunks["end"] = data.chunk_spans[:, 0], data.chunk_spans[:, 1]
    chunks["number"] = data.chunk_numbers
    chunks["length"] = data.postings.lengths
    sentences = np.zeros(len(data.sentence_ids), dtype=SENTENCE_ROW)
    sentences["id"] = data.sentence_ids
    sentences["doc"] = [doc_row[d] for d in data.sentence_docs]
    sentences["start"], sentences["end"] = data.sentence_spans[:, 0], data.sentence_spans[:, 1]
    sentences["holders"] = np.diff(data.holders_ptr)
    postings = np.zeros(len(data.postings.term), dtype=POSTING)
    postings["term"], postings["row"] = data.postings.term, data.postings.row
    postings["tf"] = data.postings.tf
    _, chunk_vectors = data.vectors_of("chunks")
    _, sentence_vectors = data.vectors_of("sentences")
    files = {
        "documents.jsonl": "".join(line + "\n" for line in lines).encode("utf-8"),
        "texts.txt": b"".join(texts),
        "chunks.table.npy": npy(chunks),
        "chunks.npy": npy(np.asarray(chunk_vectors, dtype=np.float32)),
        "sentences.table.npy": npy(sentences),
        "sentences.holders.npy": npy(data.holders.astype(np.int64)),
        "sentences.npy": npy(np.asarray(sentence_vectors, dtype=np.float32)),
        "postings.npy": npy(postings),
        "terms.txt": "\n".join(data.postings.words).encode("utf-8"),
    }
    if data.chunk_companion is not None:
        files[COMPANION_FILE] = npy(data.chunk_companion.astype(np.float16, copy=False))
    return files


def _text_spans(texts: list[bytes]) -> list[tuple[int, int]]:
    """Where each of ``texts`` lies in ``texts.txt``, which holds them one after another."""
    ends = np.cumsum([len(t) for t in texts], dtype=np.int64).tolist()
    return [(end - len(t), end) for t, end in zip(texts, ends, strict=True)]


def on_disk(data: SegmentData, files: dict[str, SegmentFile]) -> SegmentData:
    """``data``, just written as ``files`` (``ON_DISK_FILES``, open), reading its vectors
    and texts from them rather than holding them: a writer's index then holds no more of a
    new segment than one loaded from disk does."""
    spans = _text_spans([d.text.encode("utf-8") for d in data.documents])
    return replace(
        data,
        documents=[
            replace(d, body=TextRef(files["texts.txt"], *span))
            for d, span in zip(data.documents, spans, strict=True)
        ],
        chunk_vectors=FileVectors(files["chunks.npy"]),
        sentence_vectors=FileVectors(files["sentences.npy"]),
        chunk_rows=None,
        sentence_rows=None,
        _documents_by_id={},
    )


def _lines(payload: bytes) -> list[dict[str, Any]]:
    """The JSON lines of ``payload``: split at ``\n`` only (a title may hold U+2028, U+2029
    or U+0085, which ``str.splitlines`` would also split at)."""
    return [json.loads(line) for line in payload.decode("utf-8").split("\n") if line.strip()]


def document_ids(entry: SegmentEntry, documents_jsonl: bytes) -> list[str]:
    """The ids of a segment's live documents, from its ``documents.jsonl`` alone."""
    deleted = set(entry.deleted)
    return [row["doc_id"] for row in _lines(documents_jsonl) if row["doc_id"] not in deleted]


def load_npy(payload: bytes) -> np.ndarray:
    """The array of an ``.npy`` file's bytes, without copying them."""
    shape, dtype, offset = npy_header(payload[:4096])
    count = int(np.prod(shape))
    return np.frombuffer(payload, dtype=dtype, count=count, offset=offset).reshape(shape)


def decode(entry: SegmentEntry, payload: dict[str, Any]) -> SegmentData:
    """A segment's live documents (those the manifest does not list as deleted); the
    files of ``ON_DISK_FILES`` may be open files, which the segment then reads from."""
    if "texts.txt" not in payload:
        return decode_legacy(entry, payload)
    deleted = set(entry.deleted)
    rows = _lines(payload["documents.jsonl"])
    docs = _objects([r["doc_id"] for r in rows])
    live_doc = np.asarray([r["doc_id"] not in deleted for r in rows], dtype=bool)
    chunks = load_npy(payload["chunks.table.npy"])
    sentences = load_npy(payload["sentences.table.npy"])
    chunk_rows = np.flatnonzero(live_doc[chunks["doc"]])
    sentence_rows = np.flatnonzero(live_doc[sentences["doc"]])
    ptr, holders = _live_holders(
        sentences, load_npy(payload["sentences.holders.npy"]), sentence_rows
    )
    postings = _postings(payload, chunks["length"])
    every_chunk = len(chunk_rows) == len(chunks)
    every_sentence = len(sentence_rows) == len(sentences)
    chunks, sentences = chunks[chunk_rows], sentences[sentence_rows]
    companion = payload.get(COMPANION_FILE)
    return SegmentData(
        entry.name,
        _documents(entry.name, rows, live_doc, payload["texts.txt"], chunks, sentences),
        chunks["id"].astype(np.int64),
        docs[chunks["doc"]],
        np.stack([chunks["start"], chunks["end"]], axis=1).astype(np.int32),
        chunks["number"].astype(np.int32),
        _vectors(payload["chunks.npy"]),
        sentences["id"].astype(np.int64),
        docs[sentences["doc"]],
        np.stack([sentences["start"], sentences["end"]], axis=1).astype(np.int32),
        ptr,
        holders,
        _vectors(payload["sentences.npy"]),
        None if companion is None else load_npy(companion)[chunk_rows].astype(np.float16),
        postings if every_chunk else postings.rows(chunk_rows),
        None if every_chunk else chunk_rows,
        None if every_sentence else sentence_rows,
    )


def _vectors(payload: SegmentFile | bytes) -> Any:
    """A vectors file's matrix: read on demand from an open file, or from its bytes."""
    return FileVectors(payload) if isinstance(payload, SegmentFile) else load_npy(payload)


def _live_holders(
    table: np.ndarray, holders: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The holders CSR (pointers, passage ids) of sentence rows ``rows`` of ``table``."""
    ptr = np.concatenate([[0], np.cumsum(table["holders"], dtype=np.int64)])
    counts = table["holders"][rows].astype(np.int64)
    starts = np.repeat(ptr[rows], counts)
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return (
        np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        holders[starts + within].astype(np.int64),
    )


def _postings(payload: dict[str, Any], lengths: np.ndarray) -> Postings:
    table = load_npy(payload["postings.npy"])
    words = bytes(payload["terms.txt"]).decode("utf-8").split("\n") if len(table) else []
    return Postings(words, table["term"], table["row"], table["tf"], lengths)


def _documents(
    segment: str,
    rows: list[dict[str, Any]],
    live: np.ndarray,
    texts: Any,
    chunks: np.ndarray,
    sentences: np.ndarray,
) -> list[StoredDocument]:
    """The segment's live documents, each with the ids of its passages and sentences."""
    chunk_ids = _ids_by_doc(chunks, len(rows))
    sentence_ids = _ids_by_doc(sentences, len(rows))
    return [
        StoredDocument(
            r["doc_id"],
            r["title"],
            r["source"],
            r["sha256"],
            TextRef(texts, *r["text_at"]),
            r.get("published"),
            r.get("metadata") or {},
            chunk_ids[i],
            sentence_ids[i],
            segment,
            tuple(r.get("pages") or ()),
        )
        for i, r in enumerate(rows)
        if live[i]
    ]


def _ids_by_doc(table: np.ndarray, documents: int) -> list[Sequence[int]]:
    """The ids of each document's rows of ``table`` (ordered by document)."""
    order = np.argsort(table["doc"], kind="stable")
    ids = table["id"][order].tolist()
    bounds = np.searchsorted(table["doc"][order], np.arange(documents + 1)).tolist()
    return [id_run(ids[bounds[i] : bounds[i + 1]]) for i in range(documents)]


def decode_legacy(entry: SegmentEntry, payload: dict[str, Any]) -> SegmentData:
    """A segment of the earlier layout (JSON rows per passage and sentence)."""
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
        Chunk(r["chunk_id"], r["doc_id"], "", r["char_start"], r["char_end"]) for _, r in chunk_rows
    ]
    sentences = [
        Sentence(r["doc_id"], r["char_start"], r["char_end"], tuple(r["chunks"]))
        for _, r in sentence_rows
    ]
    per_doc: dict[str, list[int]] = {d: [] for d in texts}
    for _, r in chunk_rows:
        per_doc[r["doc_id"]].append(r["id"])
    doc_sentences: dict[str, list[int]] = {d: [] for d in texts}
    for _, r in sentence_rows:
        doc_sentences[r["doc_id"]].append(r["id"])
    documents = [
        StoredDocument(
            doc_id,
            r["title"],
            r["source"],
            r["sha256"],
            r["text"],
            r.get("published"),
            r.get("metadata") or {},
            id_run(per_doc[doc_id]),
            id_run(doc_sentences[doc_id]),
            entry.name,
        )
        for doc_id, r in texts.items()
    ]
    return SegmentData.of(
        entry.name,
        documents,
        np.asarray([r["id"] for _, r in chunk_rows], dtype=np.int64),
        chunks,
        load_npy(payload["chunks.npy"])[[i for i, _ in chunk_rows]],
        np.asarray([r["id"] for _, r in sentence_rows], dtype=np.int64),
        sentences,
        load_npy(payload["sentences.npy"])[[i for i, _ in sentence_rows]],
        (
            load_npy(payload[COMPANION_FILE])[[i for i, _ in chunk_rows]].astype(np.float16)
            if COMPANION_FILE in payload
            else None
        ),
    )
