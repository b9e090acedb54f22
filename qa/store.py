"""The index on disk: immutable segments and one manifest, the single commit point.

Layout of an index folder::

    manifest.json           format version, model, chunking, language, the live segments
                            (with the SHA-256 of each of their files and the ids of the
                            documents deleted from them), counts, a generation number and
                            its own checksum; replaced atomically on every write
    segments/<name>/        one batch of documents, written once, never changed:
        documents.jsonl     doc_id, title, source, sha256, published, metadata, text
        chunks.jsonl        id, chunk_id, doc_id, char_start, char_end
        chunks.npy          float32 passage vectors (L2-normalised), row i = line i above
        sentences.jsonl     id, doc_id, char_start, char_end, ids of the passages holding it
        sentences.npy       float32 sentence vectors
    ann/<name>.npy          trained centroids of an ivf vector index (see :mod:`qa.ann`),
                            named with their checksum in the manifest; written once
    ann/<name>.faiss        a saved hnsw graph (ids, vectors and links; see :mod:`qa.ann`),
                            named with its checksum in the manifest; written once
    .lock                   held (``flock``) by the one process writing at a time

A write puts a new segment on disk (files and folder fsync'd), then replaces the manifest
(write a temporary file, fsync, rename, fsync the folder). A process killed at any moment
leaves the old manifest or the new one, never a mix; a segment the manifest does not name
is removed the next time the index is opened for writing. Deleting a document only lists
its id against its segment in the manifest; segments are merged (dropping deleted
documents) when there are more than ``MAX_SEGMENTS``.

Passage and sentence texts are not stored: they are sliced from the stored original text
on load, so a citation's offsets and its text cannot disagree.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from qa.chunk import Chunk
from qa.core.errors import IndexBusyError, IndexMismatchError, IndexNotFoundError, QAError

FORMAT_VERSION = 3
MANIFEST = "manifest.json"
SEGMENTS = "segments"
ANN = "ann"
ANN_FILE_KEYS = ("centroids", "graph")  # files of a vector index record in the manifest
LOCK = ".lock"
SEGMENT_FILES = (
    "documents.jsonl",
    "chunks.jsonl",
    "chunks.npy",
    "sentences.jsonl",
    "sentences.npy",
)
MAX_SEGMENTS = 16


@dataclass(frozen=True)
class Sentence:
    doc_id: str
    char_start: int
    char_end: int
    chunks: tuple[int, ...]  # ids of the passages holding this sentence


@dataclass(frozen=True)
class StoredDocument:
    doc_id: str
    title: str
    source: str
    sha256: str
    text: str
    published: str | None = None  # ISO date
    metadata: dict[str, str | int | float | bool] = field(default_factory=dict)
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
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "source": self.source,
            "sha256": self.sha256,
            "published": self.published,
            "metadata": self.metadata,
            "text": self.text,
        }


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

    def row_documents(self, which: str) -> list[StoredDocument]:
        """The document of each passage (``chunks``) or sentence, in row order."""
        by_id = {d.doc_id: d for d in self.documents}
        rows = self.chunks if which == "chunks" else self.sentences
        return [by_id[row.doc_id] for row in rows]

    def vectors_of(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """Ids and vectors of the passages (``chunks``) or sentences (``sentences``)."""
        if which == "chunks":
            return self.chunk_ids, self.chunk_vectors
        return self.sentence_ids, self.sentence_vectors


def rebuild_hint(index_dir: Path) -> str:
    return (
        f"rebuild it with `qa index --index-dir {index_dir}` (add --source PATH for your articles)"
    )


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


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def manifest_checksum(manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def ann_files(manifest: dict[str, Any]) -> set[str]:
    """Paths (relative to the index folder) of the centroid and graph files the manifest
    names."""
    return {
        record[key]["file"]
        for record in (manifest.get("ann") or {}).values()
        for key in ANN_FILE_KEYS
        if record.get(key)
    }


@dataclass(frozen=True)
class AnnData:
    """What a vector index loads from its files: ivf centroids, or a saved hnsw graph."""

    centroids: np.ndarray | None = None
    graph: bytes | None = None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    """Reads and writes one index folder."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return (self.path / MANIFEST).is_file()

    # ------------------------------------------------------------------- locking
    @contextmanager
    def lock(self, timeout: float = 30.0) -> Iterator[None]:
        """Hold the folder's write lock (released by the OS if the process dies)."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise IndexBusyError(
                            f"index in {self.path}/ is being written by another process; "
                            "try again when it has finished"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # ------------------------------------------------------------------- reading
    def read_manifest(self) -> dict[str, Any]:
        """The committed manifest, checked for format version and its own checksum."""
        path = self.path / MANIFEST
        if not path.is_file():
            if (self.path / "CURRENT").is_file():
                raise IndexMismatchError(
                    f"index in {self.path}/ has an older format; {rebuild_hint(self.path)}"
                )
            raise IndexNotFoundError(
                f"no index in {self.path}/: build one with `qa index --source seeds "
                f"--index-dir {self.path}` (or run `make run`), or add documents with "
                "`qa add` / POST /documents"
            )
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise IndexMismatchError(
                f"index in {self.path}/ is damaged (manifest.json is not valid JSON); "
                f"{rebuild_hint(self.path)}"
            ) from exc
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise IndexMismatchError(
                f"index in {self.path}/ has format version {version}, this version of qa "
                f"reads {FORMAT_VERSION}; {rebuild_hint(self.path)}"
            )
        if manifest.get("checksum") != manifest_checksum(manifest):
            raise IndexMismatchError(
                f"index in {self.path}/ is damaged (manifest.json fails its checksum); "
                f"{rebuild_hint(self.path)}"
            )
        return manifest

    def read_segment(self, entry: dict[str, Any]) -> SegmentData:
        """A segment's live documents (those not deleted), its files checked against the
        manifest's checksums."""
        folder = self.path / SEGMENTS / entry["name"]
        payload: dict[str, bytes] = {}
        for name in SEGMENT_FILES:
            payload[name] = self._read_checked(
                folder / name, entry["files"].get(name), f"{entry['name']}/{name}"
            )
        deleted = set(entry.get("deleted", ()))
        texts: dict[str, dict[str, Any]] = {}
        for line in payload["documents.jsonl"].decode("utf-8").splitlines():
            row = json.loads(line)
            if row["doc_id"] not in deleted:
                texts[row["doc_id"]] = row
        chunk_vectors = np.load(io.BytesIO(payload["chunks.npy"]), allow_pickle=False)
        sentence_vectors = np.load(io.BytesIO(payload["sentences.npy"]), allow_pickle=False)
        chunk_ids, chunks, keep = [], [], []
        per_doc: dict[str, list[int]] = {d: [] for d in texts}
        for i, line in enumerate(payload["chunks.jsonl"].decode("utf-8").splitlines()):
            row = json.loads(line)
            if row["doc_id"] not in texts:
                continue
            text = texts[row["doc_id"]]["text"]
            start, end = row["char_start"], row["char_end"]
            chunk_ids.append(row["id"])
            chunks.append(Chunk(row["chunk_id"], row["doc_id"], text[start:end], start, end))
            keep.append(i)
            per_doc[row["doc_id"]].append(row["id"])
        sentence_ids, sentences, keep_s = [], [], []
        doc_sentences: dict[str, list[int]] = {d: [] for d in texts}
        for i, line in enumerate(payload["sentences.jsonl"].decode("utf-8").splitlines()):
            row = json.loads(line)
            if row["doc_id"] not in texts:
                continue
            sentence_ids.append(row["id"])
            sentences.append(
                Sentence(row["doc_id"], row["char_start"], row["char_end"], tuple(row["chunks"]))
            )
            keep_s.append(i)
            doc_sentences[row["doc_id"]].append(row["id"])
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
                entry["name"],
            )
            for doc_id, r in texts.items()
        ]
        return SegmentData(
            entry["name"],
            documents,
            np.asarray(chunk_ids, dtype=np.int64),
            chunks,
            chunk_vectors[keep].astype(np.float32, copy=False),
            np.asarray(sentence_ids, dtype=np.int64),
            sentences,
            sentence_vectors[keep_s].astype(np.float32, copy=False),
        )

    def read_ann(self, manifest: dict[str, Any]) -> dict[str, AnnData]:
        """Centroids and graphs of the manifest's vector indexes, by ``chunks``/``sentences``."""
        out: dict[str, AnnData] = {}
        for which, record in (manifest.get("ann") or {}).items():
            files = {
                key: self._read_checked(
                    self.path / record[key]["file"], record[key]["sha256"], record[key]["file"]
                )
                for key in ANN_FILE_KEYS
                if record.get(key)
            }
            centroids = files.get("centroids")
            out[which] = AnnData(
                None if centroids is None else np.load(io.BytesIO(centroids), allow_pickle=False),
                files.get("graph"),
            )
        return out

    def _read_checked(self, path: Path, sha256: str | None, label: str) -> bytes:
        """The bytes of ``path``; a missing file or another checksum than ``sha256`` is a
        damaged index (``label`` names the file in the message)."""
        try:
            data = path.read_bytes()
        except OSError:
            data = b""
        if hashlib.sha256(data).hexdigest() != sha256:
            raise IndexMismatchError(
                f"index in {self.path}/ is damaged ({label} fails its checksum); "
                f"{rebuild_hint(self.path)}"
            )
        return data

    # ------------------------------------------------------------------- writing
    def write_centroids(self, centroids: np.ndarray) -> dict[str, str]:
        """Write trained centroids (durably, never over an existing file); return their
        manifest entry."""
        return self._write_ann(_npy(np.ascontiguousarray(centroids, dtype=np.float32)), ".npy")

    def write_graph(self, graph: bytes) -> dict[str, str]:
        """Write a saved hnsw graph (durably, never over an existing file); return its
        manifest entry."""
        return self._write_ann(graph, ".faiss")

    def _write_ann(self, data: bytes, suffix: str) -> dict[str, str]:
        folder = self.path / ANN
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{uuid.uuid4().hex[:12]}{suffix}"
        _write_file(folder / name, data)
        _fsync_dir(folder)
        return {"file": f"{ANN}/{name}", "sha256": hashlib.sha256(data).hexdigest()}

    def write_segment(self, data: SegmentData) -> dict[str, Any]:
        """Write ``data`` as a new segment (durably); return its manifest entry."""
        segments = self.path / SEGMENTS
        segments.mkdir(parents=True, exist_ok=True)
        name = data.name
        build = segments / f".{name}"
        build.mkdir()
        try:
            payload = {
                "documents.jsonl": _jsonl([d.record() for d in data.documents]),
                "chunks.jsonl": _jsonl(
                    [
                        {
                            "id": int(i),
                            "chunk_id": c.chunk_id,
                            "doc_id": c.doc_id,
                            "char_start": c.char_start,
                            "char_end": c.char_end,
                        }
                        for i, c in zip(data.chunk_ids, data.chunks, strict=True)
                    ]
                ),
                "chunks.npy": _npy(data.chunk_vectors.astype(np.float32, copy=False)),
                "sentences.jsonl": _jsonl(
                    [
                        {
                            "id": int(i),
                            "doc_id": s.doc_id,
                            "char_start": s.char_start,
                            "char_end": s.char_end,
                            "chunks": list(s.chunks),
                        }
                        for i, s in zip(data.sentence_ids, data.sentences, strict=True)
                    ]
                ),
                "sentences.npy": _npy(data.sentence_vectors.astype(np.float32, copy=False)),
            }
            for file, content in payload.items():
                _write_file(build / file, content)
            _fsync_dir(build)
            os.rename(build, segments / name)
            _fsync_dir(segments)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
        return {
            "name": name,
            "files": {file: hashlib.sha256(c).hexdigest() for file, c in payload.items()},
            "documents": len(data.documents),
            "deleted": [],
        }

    @staticmethod
    def new_segment_name() -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        return f"seg-{stamp}-{uuid.uuid4().hex[:8]}"

    def commit(self, manifest: dict[str, Any]) -> None:
        """Make ``manifest`` the live one, atomically and durably."""
        manifest["checksum"] = manifest_checksum(manifest)
        temp = self.path / f".{MANIFEST}.{uuid.uuid4().hex[:8]}"
        try:
            _write_file(temp, json.dumps(manifest, ensure_ascii=False, indent=1).encode())
            os.replace(temp, self.path / MANIFEST)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_dir(self.path)

    def names(self, segment: str) -> bool:
        """Whether the committed manifest names ``segment`` (after a failed commit: whether
        the failure came after the switch)."""
        try:
            return segment in {s["name"] for s in self.read_manifest()["segments"]}
        except (QAError, OSError):
            return False

    def discard_segment(self, name: str) -> None:
        shutil.rmtree(self.path / SEGMENTS / name, ignore_errors=True)

    def discard_ann_files(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        """Remove the centroid and graph files ``before`` named and ``after`` no longer does."""
        for file in ann_files(before) - ann_files(after):
            (self.path / file).unlink(missing_ok=True)

    def collect_garbage(self, manifest: dict[str, Any]) -> None:
        """Remove what the manifest does not reference: segments of interrupted or superseded
        writes, temporary files, and folders of the older index format. Call with the lock."""
        live = {s["name"] for s in manifest["segments"]}
        kept = ann_files(manifest)
        if (self.path / ANN).is_dir():
            for child in (self.path / ANN).iterdir():
                if f"{ANN}/{child.name}" not in kept:
                    child.unlink(missing_ok=True)
        segments = self.path / SEGMENTS
        if segments.is_dir():
            for child in segments.iterdir():
                if child.name not in live:
                    shutil.rmtree(child, ignore_errors=True)
        for child in self.path.iterdir():
            if child.is_dir() and child.name.startswith(("gen-", ".build-")):
                shutil.rmtree(child, ignore_errors=True)
            elif child.is_file() and (
                child.name.startswith(f".{MANIFEST}.") or child.name.startswith(".CURRENT")
            ):
                child.unlink(missing_ok=True)
        (self.path / "CURRENT").unlink(missing_ok=True)
