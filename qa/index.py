"""The on-disk index: FAISS vectors, passages with offsets, documents and a manifest.

Layout of an index folder::

    CURRENT                 name of the live generation, replaced atomically
    gen-<time>-<id>/
        manifest.json       format version, model, chunking, corpus language, per-document
                            hashes, counts, and the SHA-256 of every other file
        vectors.faiss       inner-product FAISS index over L2-normalised passage vectors
        chunks.jsonl        one passage per line: chunk_id, doc_id, char_start, char_end
        sentences.faiss     the same for every sentence of the passages (row i = line i below)
        sentences.jsonl     one sentence per line: doc_id, char_start, char_end, and the
                            rows of the passages that contain it
        documents.jsonl     one document per line: doc_id, title, source, sha256, text

A build writes a whole new generation next to the live one and only then switches
``CURRENT``, so a failed or interrupted build leaves the previous index untouched.
Passage texts are not stored: they are sliced from the stored original text on load,
so a citation's offsets and its text cannot disagree.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from qa.chunk import Chunk, chunk_document, sentence_spans
from qa.core.errors import IndexMismatchError, IndexNotFoundError
from qa.embed import Embedder
from qa.ingest import Document
from qa.language import DEFAULT_LANGUAGES, detector
from qa.lexical import BM25Index

FORMAT_VERSION = 2
CURRENT = "CURRENT"
FILES = ("vectors.faiss", "chunks.jsonl", "sentences.faiss", "sentences.jsonl", "documents.jsonl")
MIN_SENTENCE_CHARS = 20  # shorter sentences (list markers, "Sim.") are not matched alone


@dataclass(frozen=True)
class Sentence:
    doc_id: str
    char_start: int
    char_end: int
    chunks: tuple[int, ...]  # rows of the passages holding this sentence


def passage_sentences(chunks: Sequence[Chunk]) -> list[Sentence]:
    """The distinct sentences of ``chunks`` (overlapping passages share theirs)."""
    holders: dict[tuple[str, int, int], list[int]] = {}
    for row, chunk in enumerate(chunks):
        for start, end in sentence_spans(chunk.text):
            if end - start >= MIN_SENTENCE_CHARS:
                key = (chunk.doc_id, chunk.char_start + start, chunk.char_start + end)
                holders.setdefault(key, []).append(row)
    return [Sentence(d, s, e, tuple(rows)) for (d, s, e), rows in holders.items()]


@dataclass(frozen=True)
class StoredDocument:
    doc_id: str
    title: str
    source: str
    sha256: str
    text: str
    n_chunks: int


@dataclass
class Index:
    """A loaded index: vectors, passages (row ``i`` of the FAISS index is ``chunks[i]``)."""

    path: Path
    manifest: dict[str, Any]
    vectors: faiss.Index
    chunks: list[Chunk]
    documents: dict[str, StoredDocument]
    sentence_vectors: faiss.Index
    sentences: list[Sentence]
    chunk_sentences: list[list[int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.chunk_sentences:
            self.chunk_sentences = [[] for _ in self.chunks]
            for i, sentence in enumerate(self.sentences):
                for row in sentence.chunks:
                    self.chunk_sentences[row].append(i)

    @property
    def model_name(self) -> str:
        return str(self.manifest["model"]["name"])

    @property
    def language(self) -> str:
        """Main language of the collection's text (ISO 639-1)."""
        return str(self.manifest.get("language", "pt"))

    @cached_property
    def lexical(self) -> BM25Index:
        """BM25 over the passages, in the collection's language (built on first use)."""
        return BM25Index([c.text for c in self.chunks], self.language)

    def search_sentences(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Sentence numbers and cosine scores of the ``k`` nearest sentences."""
        return _nearest(self.sentence_vectors, query, k)

    def sentence_matrix(self, ids: Sequence[int]) -> np.ndarray:
        """Stored vectors of the given sentences, one row each."""
        if not ids:
            return np.zeros((0, self.sentence_vectors.d), dtype=np.float32)
        return self.sentence_vectors.reconstruct_batch(np.asarray(ids, dtype=np.int64))

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Rows and cosine scores of the ``k`` nearest passages to one normalised query vector."""
        return _nearest(self.vectors, query, k)


def _nearest(vectors: faiss.Index, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Ids and inner-product scores of the ``k`` nearest vectors to one query vector."""
    k = min(k, vectors.ntotal)
    if k <= 0:
        return []
    scores, ids = vectors.search(query.reshape(1, -1).astype(np.float32), k)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]


def rebuild_hint(index_dir: Path) -> str:
    return (
        f"rebuild it with `qa index --index-dir {index_dir}` (add --source PATH for your articles)"
    )


# ------------------------------------------------------------------------------ build
def build_index(
    documents: Sequence[Document],
    embedder: Embedder,
    index_dir: Path,
    chunk_size: int,
    chunk_overlap: int,
    progress: bool = False,
) -> Index:
    """Chunk, embed and store ``documents`` as a new generation, then make it the live one."""
    started = time.perf_counter()
    chunks: list[Chunk] = []
    per_doc: dict[str, int] = {}
    for doc in documents:
        doc_chunks = chunk_document(doc, chunk_size, chunk_overlap)
        per_doc[doc.doc_id] = len(doc_chunks)
        chunks.extend(doc_chunks)
    vectors = embedder.encode_passages([c.text for c in chunks], progress=progress)
    if vectors.shape != (len(chunks), embedder.dim):
        raise ValueError(f"embedder returned shape {vectors.shape} for {len(chunks)} passages")
    flat = faiss.IndexFlatIP(embedder.dim)
    flat.add(vectors)
    sentences = passage_sentences(chunks)
    by_doc = {d.doc_id: d.text for d in documents}
    sentence_flat = faiss.IndexFlatIP(embedder.dim)
    sentence_flat.add(
        embedder.encode_passages(
            [by_doc[s.doc_id][s.char_start : s.char_end] for s in sentences], progress=progress
        ).reshape(-1, embedder.dim)
    )
    language = detector(DEFAULT_LANGUAGES).majority([d.text for d in documents])

    stored = {
        d.doc_id: StoredDocument(d.doc_id, d.title, d.source, d.sha256, d.text, per_doc[d.doc_id])
        for d in documents
    }
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {
            "name": embedder.name,
            "dim": embedder.dim,
            "query_prompt": getattr(embedder, "query_prompt", None),
            "passage_prompt": getattr(embedder, "passage_prompt", None),
        },
        "metric": "cosine (inner product of L2-normalised vectors)",
        "language": language,
        "vector_index": "IndexFlatIP",
        "chunking": {"size": chunk_size, "overlap": chunk_overlap, "unit": "characters"},
        "counts": {"documents": len(stored), "chunks": len(chunks), "sentences": len(sentences)},
        "documents": [
            {
                "doc_id": d.doc_id,
                "title": d.title,
                "source": d.source,
                "sha256": d.sha256,
                "chunks": d.n_chunks,
            }
            for d in stored.values()
        ],
        "build_seconds": round(time.perf_counter() - started, 3),
    }
    generation = _write_generation(
        index_dir, flat, chunks, sentence_flat, sentences, stored, manifest
    )
    return Index(generation, manifest, flat, chunks, stored, sentence_flat, sentences)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _jsonl(rows: Sequence[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def _write_generation(
    index_dir: Path,
    vectors: faiss.Index,
    chunks: Sequence[Chunk],
    sentence_vectors: faiss.Index,
    sentences: Sequence[Sentence],
    documents: dict[str, StoredDocument],
    manifest: dict[str, Any],
) -> Path:
    index_dir.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=".build-", dir=index_dir))
    try:
        payload = {
            "vectors.faiss": faiss.serialize_index(vectors).tobytes(),
            "chunks.jsonl": _jsonl(
                [
                    {
                        "chunk_id": c.chunk_id,
                        "doc_id": c.doc_id,
                        "char_start": c.char_start,
                        "char_end": c.char_end,
                    }
                    for c in chunks
                ]
            ),
            "sentences.faiss": faiss.serialize_index(sentence_vectors).tobytes(),
            "sentences.jsonl": _jsonl([asdict(s) for s in sentences]),
            "documents.jsonl": _jsonl(
                [
                    {k: v for k, v in asdict(d).items() if k != "n_chunks"}
                    for d in documents.values()
                ]
            ),
        }
        for name, data in payload.items():
            _write_file(build / name, data)
        manifest["files"] = {
            name: hashlib.sha256(data).hexdigest() for name, data in payload.items()
        }
        _write_file(
            build / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1).encode()
        )
        _fsync_dir(build)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        generation = index_dir / f"gen-{stamp}-{uuid.uuid4().hex[:8]}"
        os.rename(build, generation)
        os.chmod(generation, 0o755)
        pointer = index_dir / f".{CURRENT}.{uuid.uuid4().hex[:8]}"
        _write_file(pointer, generation.name.encode())
        os.replace(pointer, index_dir / CURRENT)
        _fsync_dir(index_dir)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    _remove_stale(index_dir, keep=generation.name)
    return generation


def _remove_stale(index_dir: Path, keep: str) -> None:
    for child in index_dir.iterdir():
        if child.is_dir() and child.name.startswith("gen-") and child.name != keep:
            shutil.rmtree(child, ignore_errors=True)


# ------------------------------------------------------------------------------- open
def current_generation(index_dir: Path) -> Path:
    pointer = index_dir / CURRENT
    if not pointer.is_file():
        raise IndexNotFoundError(
            f"no index in {index_dir}/: build one with `qa index --source seeds "
            f"--index-dir {index_dir}` (or run `make run`)"
        )
    generation = index_dir / pointer.read_text().strip()
    if not (generation / "manifest.json").is_file():
        raise IndexMismatchError(f"index in {index_dir}/ is incomplete; {rebuild_hint(index_dir)}")
    return generation


def read_manifest(index_dir: Path) -> dict[str, Any]:
    return json.loads((current_generation(index_dir) / "manifest.json").read_text())


def open_index(index_dir: Path, model_name: str | None = None, dim: int | None = None) -> Index:
    """Load the live index of ``index_dir``, checking format, model and file checksums."""
    generation = current_generation(index_dir)
    manifest = json.loads((generation / "manifest.json").read_text())
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexMismatchError(
            f"index in {index_dir}/ has format version {version}, this version of qa reads "
            f"{FORMAT_VERSION}; {rebuild_hint(index_dir)}"
        )
    built_with = manifest["model"]["name"]
    if model_name is not None and built_with != model_name:
        raise IndexMismatchError(
            f"index in {index_dir}/ was built with model {built_with!r} "
            f"(dim {manifest['model']['dim']}), but the service uses {model_name!r}; "
            f"{rebuild_hint(index_dir)}, or set QA_MODEL={built_with}"
        )
    if dim is not None and manifest["model"]["dim"] != dim:
        raise IndexMismatchError(
            f"index in {index_dir}/ holds {manifest['model']['dim']}-dimensional vectors, the "
            f"model produces {dim}; {rebuild_hint(index_dir)}"
        )
    payload = {name: (generation / name).read_bytes() for name in FILES}
    for name, data in payload.items():
        if hashlib.sha256(data).hexdigest() != manifest.get("files", {}).get(name):
            raise IndexMismatchError(
                f"index in {index_dir}/ is damaged ({name} fails its checksum); "
                f"{rebuild_hint(index_dir)}"
            )
    vectors = faiss.deserialize_index(np.frombuffer(payload["vectors.faiss"], dtype=np.uint8))
    texts: dict[str, dict[str, Any]] = {}
    for line in payload["documents.jsonl"].decode("utf-8").splitlines():
        row = json.loads(line)
        texts[row["doc_id"]] = row
    chunks: list[Chunk] = []
    counts: dict[str, int] = dict.fromkeys(texts, 0)
    for line in payload["chunks.jsonl"].decode("utf-8").splitlines():
        row = json.loads(line)
        text = texts[row["doc_id"]]["text"]
        chunks.append(
            Chunk(
                row["chunk_id"],
                row["doc_id"],
                text[row["char_start"] : row["char_end"]],
                row["char_start"],
                row["char_end"],
            )
        )
        counts[row["doc_id"]] += 1
    if vectors.ntotal != len(chunks):
        raise IndexMismatchError(
            f"index in {index_dir}/ holds {vectors.ntotal} vectors for {len(chunks)} passages; "
            f"{rebuild_hint(index_dir)}"
        )
    sentence_vectors = faiss.deserialize_index(
        np.frombuffer(payload["sentences.faiss"], dtype=np.uint8)
    )
    sentences = [
        Sentence(r["doc_id"], r["char_start"], r["char_end"], tuple(r["chunks"]))
        for r in map(json.loads, payload["sentences.jsonl"].decode("utf-8").splitlines())
    ]
    if sentence_vectors.ntotal != len(sentences):
        raise IndexMismatchError(
            f"index in {index_dir}/ holds {sentence_vectors.ntotal} sentence vectors for "
            f"{len(sentences)} sentences; {rebuild_hint(index_dir)}"
        )
    documents = {
        doc_id: StoredDocument(
            doc_id, r["title"], r["source"], r["sha256"], r["text"], counts[doc_id]
        )
        for doc_id, r in texts.items()
    }
    return Index(generation, manifest, vectors, chunks, documents, sentence_vectors, sentences)
