"""The index folder on disk: immutable segments and one manifest, the single commit point.

Layout::

    manifest.json    what the index is (see :mod:`qa.store.manifest`), with its checksum;
                     replaced atomically on every write
    segments/<name>/ one batch of documents, written once (see :mod:`qa.store.segments`),
                     every file's SHA-256 in the manifest
    ann/             files a vector backend keeps beside the segments (saved graphs,
                     trained centroids), named with their checksum in the manifest
    .lock            held (``flock``) by the one process writing at a time

A write puts a new segment on disk (files and folder fsync'd), then replaces the manifest
(write a temporary file, fsync, rename, fsync the folder). A process killed at any moment
leaves the old manifest or the new one, never a mix; a segment the manifest does not name
is removed the next time the index is opened for writing.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from qa.core.errors import IndexBusyError, IndexMismatchError, IndexNotFoundError
from qa.store import segments
from qa.store.manifest import FileRef, Manifest, ManifestError, SegmentEntry, parse
from qa.store.ondisk import SegmentFile
from qa.store.segments import (
    COMPANION_FILE,
    LEGACY_FILES,
    ON_DISK_FILES,
    SEGMENT_FILES,
    SegmentData,
)

MANIFEST = "manifest.json"
SEGMENTS = "segments"
BLOBS = "ann"  # (the name predates vector backends other than FAISS)
LOCK = ".lock"


def rebuild_hint(index_dir: Path) -> str:
    return (
        f"rebuild it with `qa index --index-dir {index_dir}` (add --source PATH for your articles)"
    )


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _damaged(root: Path, file: str) -> IndexMismatchError:
    return IndexMismatchError(
        f"index in {root}/ is damaged ({file} fails its checksum); `qa check --repair "
        f"--index-dir {root}` keeps what can be read, or {rebuild_hint(root)}"
    )


def open_checked(root: Path, file: str, sha256: str | None) -> SegmentFile:
    """``root / file`` opened for reading where it lies (:mod:`qa.store.ondisk`), after
    checking its checksum by streaming it."""
    try:
        handle = open(root / file, "rb")  # noqa: SIM115  # kept open by its readers
    except OSError:
        raise _damaged(root, file) from None
    if hashlib.file_digest(handle, "sha256").hexdigest() != sha256:
        handle.close()
        raise _damaged(root, file)
    return SegmentFile(handle)


def read_checked(root: Path, file: str, sha256: str | None) -> bytes:
    """The bytes of ``root / file``; a missing file or another checksum than ``sha256`` is a
    damaged index."""
    try:
        data = (root / file).read_bytes()
    except OSError:
        data = b""
    if hashlib.sha256(data).hexdigest() != sha256:
        raise _damaged(root, file)
    return data


class Blobs:
    """Files a vector backend keeps in the index folder, each written once under a new
    name and referenced (with its checksum) by the manifest's vectors record."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root / BLOBS

    def write(self, data: bytes, suffix: str) -> FileRef:
        """Write ``data`` durably under a new name; return its reference."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{uuid.uuid4().hex[:12]}{suffix}"
        write_file(self.folder / name, data)
        fsync_dir(self.folder)
        return FileRef(file=f"{BLOBS}/{name}", sha256=hashlib.sha256(data).hexdigest())

    def read(self, ref: FileRef) -> bytes:
        return read_checked(self.root, ref.file, ref.sha256)

    def remove(self, files: Iterable[str]) -> None:
        for file in files:
            (self.root / file).unlink(missing_ok=True)

    def retain(self, keep: set[str]) -> None:
        """Remove every file of the folder not in ``keep`` (left by interrupted writes)."""
        if self.folder.is_dir():
            self.remove(
                f"{BLOBS}/{child.name}"
                for child in self.folder.iterdir()
                if f"{BLOBS}/{child.name}" not in keep
            )


class Store:
    """Reads and writes one index folder."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.blobs = Blobs(self.path)

    def exists(self) -> bool:
        return (self.path / MANIFEST).is_file()

    def version(self) -> tuple[int, int, int] | None:
        """A token that changes with every commit (a commit renames a new manifest into
        place): cheap enough to check a few times a second. ``None``: no index."""
        try:
            stat = (self.path / MANIFEST).stat()
        except OSError:
            return None
        return stat.st_ino, stat.st_mtime_ns, stat.st_size

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

    def copy_to(self, dest: Path) -> Manifest:
        """A consistent copy of the committed index in ``dest`` (new, or an empty folder):
        taken under the write lock, so no write commits or collects files meanwhile;
        readers are not held up. The copy is an index folder of its own."""
        dest = Path(dest)
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise IndexMismatchError(f"{dest} exists and is not an empty folder")
        if dest.resolve().is_relative_to(self.path.resolve()):
            raise IndexMismatchError(f"{dest} is inside the index folder {self.path}/")
        with self.lock():
            manifest = self.read_manifest()
            if manifest.vectors.kind != "faiss":
                raise IndexMismatchError(
                    f"the index keeps its vectors in {manifest.vectors.kind}, which this copy "
                    "would not hold: back up the vector store with its own tools"
                )
            shutil.copytree(
                self.path,
                dest,
                dirs_exist_ok=True,
                ignore=lambda folder, names: [n for n in names if n.startswith(".")],
            )
        return manifest

    # ------------------------------------------------------------------- reading
    def read_manifest(self) -> Manifest:
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
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise IndexMismatchError(
                f"index in {self.path}/ is damaged (manifest.json is not valid JSON); "
                f"{rebuild_hint(self.path)}"
            ) from exc
        try:
            return parse(raw)
        except ManifestError as exc:
            raise IndexMismatchError(
                f"index in {self.path}/ {exc}; {rebuild_hint(self.path)}"
            ) from exc

    def committed(self, generation: int) -> bool:
        """Whether the manifest on disk may be of ``generation`` (after a failed commit:
        whether the failure may have come after the switch). One that cannot be read counts
        as committed: the caller then keeps the segment it may name, and garbage collection
        removes that segment later if a readable manifest shows it unused."""
        try:
            raw = json.loads((self.path / MANIFEST).read_bytes())
        except FileNotFoundError:
            return False
        except (OSError, ValueError):
            return True
        return not isinstance(raw, dict) or raw.get("generation") in (generation, None)

    def read_segment(self, entry: SegmentEntry) -> SegmentData:
        """A segment's live documents, its files checked against the manifest's checksums;
        its vectors and texts left on disk, read when used."""
        names = SEGMENT_FILES if "texts.txt" in entry.files else LEGACY_FILES
        payload: dict[str, SegmentFile | bytes] = {}
        for name in (*names, *([COMPANION_FILE] if COMPANION_FILE in entry.files else [])):
            file, sha256 = f"{SEGMENTS}/{entry.name}/{name}", entry.files.get(name)
            if name in ON_DISK_FILES and names is SEGMENT_FILES:
                payload[name] = open_checked(self.path, file, sha256)
            else:
                payload[name] = read_checked(self.path, file, sha256)
        return segments.decode(entry, payload)

    def written(self, data: SegmentData) -> SegmentData:
        """``data``, which this process has just written, reading its vectors and texts from
        its files (not checked again) like a segment read from disk."""
        folder = self.path / SEGMENTS / data.name
        files = {name: SegmentFile(open(folder / name, "rb")) for name in ON_DISK_FILES}  # noqa: SIM115  # kept open by their readers
        return segments.on_disk(data, files)

    def document_ids(self, manifest: Manifest) -> set[str]:
        """The ids of every document of ``manifest`` (no passage or vector read)."""
        ids: set[str] = set()
        for entry in manifest.segments:
            file = f"{SEGMENTS}/{entry.name}/documents.jsonl"
            raw = read_checked(self.path, file, entry.files.get("documents.jsonl"))
            ids.update(segments.document_ids(entry, raw))
        return ids

    # ------------------------------------------------------------------- writing
    @staticmethod
    def new_segment_name() -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        return f"seg-{stamp}-{uuid.uuid4().hex[:8]}"

    def write_segment(self, data: SegmentData) -> SegmentEntry:
        """Write ``data`` as a new segment (durably); return its manifest entry."""
        folder = self.path / SEGMENTS
        folder.mkdir(parents=True, exist_ok=True)
        build = folder / f".{data.name}"
        build.mkdir()
        try:
            payload = segments.encode(data)
            for file, content in payload.items():
                write_file(build / file, content)
            fsync_dir(build)
            os.rename(build, folder / data.name)
            fsync_dir(folder)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
        return SegmentEntry(
            name=data.name,
            files={file: hashlib.sha256(c).hexdigest() for file, c in payload.items()},
            documents=len(data.documents),
        )

    def commit(self, manifest: Manifest) -> None:
        """Make ``manifest`` the live one, atomically and durably."""
        temp = self.path / f".{MANIFEST}.{uuid.uuid4().hex[:8]}"
        try:
            write_file(temp, json.dumps(manifest.to_json(), ensure_ascii=False, indent=1).encode())
            os.replace(temp, self.path / MANIFEST)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        fsync_dir(self.path)

    def discard_segment(self, name: str) -> None:
        shutil.rmtree(self.path / SEGMENTS / name, ignore_errors=True)

    def collect_garbage(self, manifest: Manifest) -> None:
        """Remove the segments the manifest does not name (of interrupted or superseded
        writes), temporary files, and folders of the older index format. Call with the
        lock. (Files under ``ann/`` are the vector backend's to collect.)"""
        live = {s.name for s in manifest.segments}
        folder = self.path / SEGMENTS
        if folder.is_dir():
            for child in folder.iterdir():
                if child.name not in live:
                    shutil.rmtree(child, ignore_errors=True)
        for child in self.path.iterdir():
            if child.is_dir() and child.name.startswith(("gen-", ".build-")):
                shutil.rmtree(child, ignore_errors=True)
            elif child.is_file() and child.name.startswith((f".{MANIFEST}.", ".CURRENT")):
                child.unlink(missing_ok=True)
        (self.path / "CURRENT").unlink(missing_ok=True)
