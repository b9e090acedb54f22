"""A living collection: add, update and delete documents of an index, durably.

A write (serialised by a mutex in the process and the index folder's lock across
processes) works in three steps:

1. plan: compare the incoming documents with the stored ones by content hash; only new
   or changed texts are chunked and embedded (a document whose text is unchanged but whose
   title or metadata changed keeps its vectors);
2. persist: write a segment with the new passages, then commit a manifest that lists it
   and marks the replaced or deleted documents (see :mod:`qa.store`);
3. publish: apply the change to the in-memory index under its write lock, so a query sees
   the state before or after, never a mix.

With vectors in Milvus (:mod:`qa.milvus`), step 2 also upserts the new vectors before the
commit, under ids searches do not reach yet, and step 3 deletes the replaced ones.

A failure before the commit leaves disk and memory as they were.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from qa.ann import (
    DEFAULT_NPROBE,
    FLAT_MAX,
    HNSW_EF_SEARCH,
    HNSW_M,
    AnnSpec,
    VectorIndex,
    choose_spec,
    same_structure,
    train_centroids,
)
from qa.chunk import Chunk, chunk_document
from qa.core.errors import DocumentNotFoundError, IndexMismatchError, IngestError
from qa.embed import Embedder, embedder_backend
from qa.index import Index, ann_spec, passage_sentences
from qa.ingest import Document
from qa.language import DEFAULT_LANGUAGES, detector
from qa.milvus import MilvusBackend, MilvusVectors
from qa.store import (
    FORMAT_VERSION,
    MAX_SEGMENTS,
    SegmentData,
    Sentence,
    Store,
    StoredDocument,
    now,
    rebuild_hint,
)
from qa.vectors import VECTOR_KINDS, FaissBackend, VectorBackend, VectorStore, backend_of

Status = Literal["new", "updated", "unchanged", "deleted"]


@dataclass(frozen=True)
class WriteResult:
    doc_id: str
    status: Status
    chunks: int


@dataclass(frozen=True)
class AnnPolicy:
    """How a collection picks its vector index kind (see :func:`qa.ann.choose_spec`)."""

    mode: str = "flat"  # auto | flat | ivf | hnsw | pq | rabitq
    flat_max: int = FLAT_MAX
    nprobe: int = DEFAULT_NPROBE
    ef_search: int = HNSW_EF_SEARCH
    m: int = HNSW_M
    candidates: int = 0  # 0: the kind's default

    def spec(self, n: int, current: AnnSpec) -> AnnSpec:
        return choose_spec(
            n,
            current,
            self.mode,
            self.flat_max,
            self.nprobe,
            self.ef_search,
            self.m,
            self.candidates,
        )


# A saved hnsw graph is saved again once the vectors added to or removed from the index
# since pass this share of it (loading replays that difference from the segments).
GRAPH_RESAVE = 0.1


def corpus_language(documents: Sequence[Document]) -> str:
    """The majority language of the documents' texts (ISO 639-1)."""
    return detector(DEFAULT_LANGUAGES).majority([d.text for d in documents] or [""])


def new_manifest(
    embedder: Embedder, language: str, chunk_size: int, chunk_overlap: int
) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "created": now(),
        "updated": now(),
        "generation": 0,
        "model": {
            "name": embedder.name,
            "dim": embedder.dim,
            "backend": embedder_backend(embedder),
            "query_prompt": getattr(embedder, "query_prompt", None),
            "passage_prompt": getattr(embedder, "passage_prompt", None),
        },
        "metric": "cosine (inner product of L2-normalised vectors)",
        "language": language,
        "ann": {which: AnnSpec().record() for which in VECTOR_KINDS},
        "chunking": {"size": chunk_size, "overlap": chunk_overlap, "unit": "characters"},
        "next_ids": {"chunk": 0, "sentence": 0},
        "counts": {"documents": 0, "chunks": 0, "sentences": 0},
        "segments": [],
    }


def check_model(manifest: dict[str, Any], index_dir: Path, model: str | None, dim: int | None):
    built_with = manifest["model"]["name"]
    if model is not None and built_with != model:
        raise IndexMismatchError(
            f"index in {index_dir}/ was built with model {built_with!r} "
            f"(dim {manifest['model']['dim']}), but the service uses {model!r}; "
            f"{rebuild_hint(index_dir)}, or set QA_MODEL={built_with}"
        )
    if dim is not None and manifest["model"]["dim"] != dim:
        raise IndexMismatchError(
            f"index in {index_dir}/ holds {manifest['model']['dim']}-dimensional vectors, the "
            f"model produces {dim}; {rebuild_hint(index_dir)}"
        )


def check_backend(manifest: dict[str, Any], index_dir: Path, kind: str) -> None:
    held = backend_of(manifest)
    if held != kind:
        raise IndexMismatchError(
            f"the index in {index_dir}/ keeps its vectors in {held}, but the service is set to "
            f"{kind}; set QA_VECTOR_STORE={held} (with its connection settings), or move the "
            f"vectors with `qa migrate --to {kind}`"
        )


def open_index(
    index_dir: Path,
    model_name: str | None = None,
    dim: int | None = None,
    backend: VectorBackend | None = None,
) -> Index:
    """Load the live index of ``index_dir`` (read-only use), checking format, model, vector
    store and file checksums."""
    store = Store(index_dir)
    manifest = store.read_manifest()
    check_model(manifest, store.path, model_name, dim)
    backend = backend or FaissBackend()
    check_backend(manifest, store.path, backend.kind)
    return Index.load(store, manifest, backend, repair=False)


class Collection:
    """The index of one folder, open for reading and writing."""

    def __init__(
        self,
        store: Store,
        index: Index,
        embedder: Embedder,
        chunk_size: int,
        chunk_overlap: int,
        ann: AnnPolicy | None = None,
    ) -> None:
        self.store, self.index, self.embedder = store, index, embedder
        self.chunk_size, self.chunk_overlap = chunk_size, chunk_overlap
        self.ann = ann or AnnPolicy()
        self._mutex = threading.Lock()

    # -------------------------------------------------------------------- opening
    @classmethod
    def open(
        cls,
        index_dir: Path,
        embedder: Embedder,
        chunk_size: int,
        chunk_overlap: int,
        ann: AnnPolicy | None = None,
        backend: VectorBackend | None = None,
    ) -> Collection:
        """Open an existing index: checks model, vector store and checksums, removes
        leftovers of interrupted writes. Chunking settings of the index win over the
        arguments."""
        store = Store(index_dir)
        with store.lock():
            manifest = store.read_manifest()
            check_model(manifest, store.path, embedder.name, embedder.dim)
            backend = backend or FaissBackend()
            check_backend(manifest, store.path, backend.kind)
            index = Index.load(store, manifest, backend)
            store.collect_garbage(manifest)
        chunking = manifest["chunking"]
        return cls(store, index, embedder, int(chunking["size"]), int(chunking["overlap"]), ann)

    @classmethod
    def create(
        cls,
        index_dir: Path,
        embedder: Embedder,
        documents: Sequence[Document],
        chunk_size: int,
        chunk_overlap: int,
        progress: bool = False,
        language: str | None = None,
        ann: AnnPolicy | None = None,
        backend: VectorBackend | None = None,
    ) -> Collection:
        """A new index of ``documents``, replacing whatever ``index_dir`` held; its language
        is ``language`` or the majority language of ``documents``; its vectors go to
        ``backend`` (default: FAISS)."""
        if chunk_overlap >= chunk_size:
            raise ValueError("overlap must be smaller than size")
        store = Store(index_dir)
        language = language or corpus_language(documents)
        manifest = new_manifest(embedder, language, chunk_size, chunk_overlap)
        index = Index(store.path, manifest, embedder.dim, backend=backend)
        collection = cls(store, index, embedder, chunk_size, chunk_overlap, ann)
        with store.lock():
            previous = None
            if store.exists():
                try:
                    previous = store.read_manifest()
                    manifest["generation"] = int(previous.get("generation", 0)) + 1
                except IndexMismatchError:
                    pass
            collection._write(list(documents), [], progress=progress, replace_all=True)
            if previous is not None and backend_of(previous) == index.backend.kind:
                index.backend.discard(previous, index.manifest)
        return collection

    # ------------------------------------------------------------------- writing
    def upsert(self, documents: Sequence[Document], progress: bool = False) -> list[WriteResult]:
        """Add or replace ``documents`` (by id); unchanged ones cost nothing."""
        ids = [d.doc_id for d in documents]
        for doc in documents:
            if not doc.segments:
                raise IngestError(
                    f"document {doc.doc_id!r} has no text to index after cleaning (empty, or "
                    "only boilerplate such as comment forms and source links)"
                )
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise IngestError(f"document id {dup!r} appears twice in one request")
        with self._mutex, self.store.lock():
            self._refresh()
            return self._write(list(documents), [], progress=progress)

    def delete(self, doc_ids: Sequence[str]) -> list[WriteResult]:
        """Delete documents; an unknown id fails the whole call before anything changes."""
        with self._mutex, self.store.lock():
            self._refresh()
            missing = [d for d in doc_ids if d not in self.index.documents]
            if missing:
                raise DocumentNotFoundError(
                    f"no document with id {missing[0]!r} in the collection "
                    "(GET /documents or `qa list` shows the ids)"
                )
            return self._write([], list(dict.fromkeys(doc_ids)))

    def _refresh(self) -> None:
        """Reload from disk if another process committed since this one last looked."""
        if not self.store.exists():
            return
        manifest = self.store.read_manifest()
        if manifest.get("generation") != self.index.generation:
            segments = [self.store.read_segment(entry) for entry in manifest["segments"]]
            ann = self.store.read_ann(manifest)
            with self.index.lock.write():
                self.index.reset(manifest, ann)
                self.index.apply(segments, (), manifest)
                self.index.settle()

    def _plan(
        self, documents: list[Document]
    ) -> tuple[list[Document], list[tuple[Document, StoredDocument]], list[WriteResult]]:
        """Split incoming documents into those to embed, those whose vectors can be reused
        (same text, other title/metadata), and the unchanged."""
        embed, reuse, results = [], [], []
        for doc in documents:
            old = self.index.documents.get(doc.doc_id)
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
                results.append(WriteResult(doc.doc_id, "unchanged", old.n_chunks))
        return embed, reuse, results

    def _segment(
        self,
        embed: list[Document],
        reuse: list[tuple[Document, StoredDocument]],
        progress: bool,
    ) -> SegmentData:
        """Chunk and embed ``embed``; copy the stored vectors of ``reuse``; assign ids."""
        next_ids = self.index.manifest["next_ids"]
        next_chunk, next_sentence = int(next_ids["chunk"]), int(next_ids["sentence"])
        dim = self.embedder.dim
        chunks: list[Chunk] = []
        for doc in embed:
            doc_chunks = chunk_document(doc, self.chunk_size, self.chunk_overlap)
            if not doc_chunks:
                raise IngestError(f"document {doc.doc_id!r} has no text to index")
            chunks.extend(doc_chunks)
        chunk_ids = list(range(next_chunk, next_chunk + len(chunks)))
        sentences = passage_sentences(chunks, chunk_ids)
        texts = {d.doc_id: d.text for d in embed}
        chunk_vectors = [
            self.embedder.encode_passages([c.text for c in chunks], progress=progress).reshape(
                -1, dim
            )
        ]
        sentence_vectors = [
            self.embedder.encode_passages(
                [texts[s.doc_id][s.char_start : s.char_end] for s in sentences], progress=progress
            ).reshape(-1, dim)
        ]
        if chunk_vectors[0].shape[0] != len(chunks):
            raise ValueError(
                f"embedder returned {chunk_vectors[0].shape} for {len(chunks)} passages"
            )
        # Same text and chunking: the same passages and sentences, so the stored vectors.
        for _, old in reuse:
            remap = {c: next_chunk + len(chunks) + k for k, c in enumerate(old.chunk_ids)}
            chunks.extend(self.index.chunks[c] for c in old.chunk_ids)
            chunk_ids.extend(remap.values())
            chunk_vectors.append(self.index.chunk_matrix(old.chunk_ids))
            for sid in old.sentence_ids:
                s = self.index.sentences[sid]
                sentences.append(replace(s, chunks=tuple(remap[c] for c in s.chunks)))
            sentence_vectors.append(self.index.sentence_matrix(old.sentence_ids))
        sentence_ids = list(range(next_sentence, next_sentence + len(sentences)))
        name = self.store.new_segment_name()
        return SegmentData(
            name,
            _stored(
                [*embed, *(doc for doc, _ in reuse)],
                chunks,
                chunk_ids,
                sentences,
                sentence_ids,
                name,
            ),
            np.asarray(chunk_ids, dtype=np.int64),
            chunks,
            np.ascontiguousarray(np.vstack(chunk_vectors), dtype=np.float32),
            np.asarray(sentence_ids, dtype=np.int64),
            sentences,
            np.ascontiguousarray(np.vstack(sentence_vectors), dtype=np.float32),
        )

    def _write(
        self,
        documents: list[Document],
        deletions: list[str],
        progress: bool = False,
        replace_all: bool = False,
    ) -> list[WriteResult]:
        started = time.perf_counter()
        index = self.index
        if replace_all:
            embed, reuse, results = list(documents), [], []
        else:
            embed, reuse, results = self._plan(documents)
        segment = self._segment(embed, reuse, progress) if embed or reuse else None
        replaced = [] if replace_all else [d.doc_id for d in embed if d.doc_id in index.documents]
        replaced += [doc.doc_id for doc, _ in reuse]
        removed = replaced + deletions
        if segment is None and not removed and not replace_all:
            return results

        index_manifest_before = index.manifest
        manifest = copy.deepcopy(index.manifest)
        manifest["generation"] = int(manifest.get("generation", 0)) + 1
        manifest["updated"] = now()
        if replace_all:
            manifest["segments"] = []
        positions = {s["name"]: i for i, s in enumerate(manifest["segments"])}
        for doc_id in removed:
            manifest["segments"][positions[index.documents[doc_id].segment]]["deleted"].append(
                doc_id
            )
        if segment is not None:
            manifest["segments"].append(self.store.write_segment(segment))
            manifest["next_ids"] = {
                "chunk": int(manifest["next_ids"]["chunk"]) + len(segment.chunks),
                "sentence": int(manifest["next_ids"]["sentence"]) + len(segment.sentences),
            }
        manifest["segments"] = [
            s for s in manifest["segments"] if s["documents"] > len(s["deleted"])
        ]
        # Counts change by what leaves and what arrives: no pass over the collection.
        counts = dict.fromkeys(manifest["counts"], 0) if replace_all else manifest["counts"]
        gone = [index.documents[d] for d in removed]
        fresh = segment.documents if segment else []
        manifest["counts"] = {
            "documents": counts["documents"] - len(gone) + len(fresh),
            "chunks": counts["chunks"]
            - sum(d.n_chunks for d in gone)
            + sum(d.n_chunks for d in fresh),
            "sentences": counts["sentences"]
            - sum(len(d.sentence_ids) for d in gone)
            + sum(len(d.sentence_ids) for d in fresh),
        }
        rebuilt = self._plan_vectors(manifest, segment, removed, replace_all)
        manifest["write_seconds"] = round(time.perf_counter() - started, 3)
        try:
            self.store.commit(manifest)
        except BaseException:
            if segment is not None and not self.store.names(segment.name):
                self.store.discard_segment(segment.name)
            self._abandon(rebuilt)
            raise
        dropped = {s["name"] for s in index.manifest["segments"]} - {
            s["name"] for s in manifest["segments"]
        }
        with index.lock.write():
            if replace_all:
                index.reset(manifest, stores=rebuilt)
            index.apply([segment] if segment else [], removed, manifest, rebuilt)
        if removed:
            index.vectors.persist()
            index.sentence_vectors.persist()
        self.store.discard_ann_files(index_manifest_before, manifest)
        index.backend.discard(index_manifest_before, manifest)
        if replace_all:
            self.store.collect_garbage(manifest)
        for name in dropped:
            self.store.discard_segment(name)
        for doc in embed:
            status: Status = "updated" if doc.doc_id in replaced else "new"
            results.append(WriteResult(doc.doc_id, status, index.documents[doc.doc_id].n_chunks))
        for doc, _ in reuse:
            results.append(WriteResult(doc.doc_id, "updated", index.documents[doc.doc_id].n_chunks))
        results += [WriteResult(d, "deleted", 0) for d in deletions]
        if len(manifest["segments"]) > MAX_SEGMENTS:
            self.compact()
        order = {d.doc_id: i for i, d in enumerate(documents)}
        return sorted(results, key=lambda r: order.get(r.doc_id, len(order)))

    def _plan_vectors(
        self,
        manifest: dict[str, Any],
        segment: SegmentData | None,
        removed: Sequence[str],
        replace_all: bool,
        force: bool = False,
    ) -> dict[str, VectorStore]:
        """Prepare the vector stores of the new state (``manifest``) before its commit;
        returns the stores that replace the live ones (see :meth:`_plan_faiss` and
        :meth:`_plan_milvus`)."""
        if self.index.backend.kind == "milvus":
            return self._plan_milvus(manifest, segment, removed, replace_all, force)
        rebuilt = self._plan_faiss(manifest, segment, removed, replace_all, force)
        manifest["vector_store"] = {"kind": "faiss"}
        return rebuilt

    def _plan_milvus(
        self,
        manifest: dict[str, Any],
        segment: SegmentData | None,
        removed: Sequence[str],
        replace_all: bool,
        force: bool,
    ) -> dict[str, VectorStore]:
        """Upsert the segment's vectors into the live collections (invisible until the
        commit), or, for a new index, a migration or ``force``, fill new collections with
        every vector of the new state (the old ones are dropped after the commit)."""
        backend = self.index.backend
        assert isinstance(backend, MilvusBackend)
        rebuilt: dict[str, VectorStore] = {}
        if not (force or replace_all or backend_of(self.index.manifest) != "milvus"):
            if segment is not None:
                for which in VECTOR_KINDS:
                    store = self.index.vector_index(which)
                    assert isinstance(store, MilvusVectors)
                    ids, vectors = segment.vectors_of(which)
                    store.stage(ids, vectors, segment.row_documents(which))
                    store.persist()
            return rebuilt
        try:
            for which in VECTOR_KINDS:
                ids, vectors, docs = self._state_vectors(which, segment, removed, replace_all)
                store = backend.create(which, self.embedder.dim)
                rebuilt[which] = store
                store.add(ids, vectors, docs)
                store.persist()
                store.configure(manifest, which)
        except BaseException:
            self._abandon(rebuilt)
            raise
        manifest["vector_store"] = {
            "kind": "milvus",
            "index": backend.options.index_type,
            "collections": {w: s.name for w, s in rebuilt.items()},  # type: ignore[attr-defined]
        }
        manifest.pop("ann", None)
        return rebuilt

    def _abandon(self, rebuilt: dict[str, VectorStore]) -> None:
        """Undo what preparing a write that did not commit put in Milvus."""
        backend = self.index.backend
        if not isinstance(backend, MilvusBackend):
            return
        for which in VECTOR_KINDS:
            store = self.index.vector_index(which)
            if isinstance(store, MilvusVectors):
                store.unstage()
        backend.drop([s.name for s in rebuilt.values() if isinstance(s, MilvusVectors)])

    def _plan_faiss(
        self,
        manifest: dict[str, Any],
        segment: SegmentData | None,
        removed: Sequence[str],
        replace_all: bool,
        force: bool,
    ) -> dict[str, VectorStore]:
        """Choose each vector index's kind for the new state (``manifest``'s counts); where it
        changes, train centroids or link a graph (written to disk, named in ``manifest``) and
        build the new index with every vector of the new state (``force``: rebuild every
        index). An hnsw graph that has drifted from its saved copy is updated off to the
        side and saved again. Returns the indexes that replace the live ones."""
        ann = manifest.setdefault("ann", {})
        rebuilt: dict[str, VectorStore] = {}
        for which in VECTOR_KINDS:
            current = ann_spec(manifest, which)
            spec = self.ann.spec(int(manifest["counts"][which]), current)
            keep = same_structure(spec, current) and not (replace_all and spec.kind != "flat")
            if not force and keep:
                ann[which] = {**ann.get(which, {}), **spec.record()}
                if spec.kind == "hnsw":
                    self._resave_graph(which, ann[which], segment, removed, rebuilt)
                continue
            ids, vectors, _ = self._state_vectors(which, segment, removed, replace_all)
            centroids = None
            if spec.kind == "ivf":
                centroids = train_centroids(vectors, spec.nlist)
                spec = replace(spec, nlist=len(centroids), trained_on=len(ids))
            ann[which] = spec.record()
            if centroids is not None:
                ann[which]["centroids"] = self.store.write_centroids(centroids)
            rebuilt[which] = VectorIndex(self.embedder.dim, spec, centroids)
            rebuilt[which].add(ids, vectors)
            if spec.kind == "hnsw":
                ann[which]["graph"] = self._save_graph(rebuilt[which])
        return rebuilt

    def _save_graph(self, index: VectorIndex) -> dict[str, Any]:
        """Write ``index``'s graph; its record says how many vectors and tombstones it had."""
        return {
            **self.store.write_graph(index.graph_bytes()),
            "vectors": int(index.faiss.ntotal),
            "tombstones": len(index.tombstones),
        }

    def _resave_graph(
        self,
        which: str,
        record: dict[str, Any],
        segment: SegmentData | None,
        removed: Sequence[str],
        rebuilt: dict[str, VectorStore],
    ) -> None:
        """Save the hnsw graph of the new state again when it has drifted from the saved
        one by more than ``GRAPH_RESAVE`` (the new state's graph is built on a copy, so
        queries keep the old one until the commit)."""
        live = self.index.vector_index(which)
        assert isinstance(live, VectorIndex)
        gone = np.asarray(
            [i for d in removed for i in self.index.documents[d].vector_ids(which)], dtype=np.int64
        )
        new_ids = np.zeros(0, dtype=np.int64)
        new_vectors = np.zeros((0, self.embedder.dim), dtype=np.float32)
        if segment is not None:
            new_ids, new_vectors = segment.vectors_of(which)
        graph = record.get("graph", {})
        saved = int(graph.get("vectors", 0))
        # vectors added and removed since the save, then by this write
        drift = (
            int(live.faiss.ntotal)
            - saved
            + len(live.tombstones)
            - int(graph.get("tombstones", 0))
            + len(gone)
            + len(new_ids)
        )
        if record.get("graph") and drift <= GRAPH_RESAVE * max(saved, 1):
            return
        copy_ = live.copy()
        copy_.remove(gone)
        copy_.add(new_ids, new_vectors)
        copy_ = copy_.compacted()
        record["graph"] = self._save_graph(copy_)
        rebuilt[which] = copy_

    def _state_vectors(
        self,
        which: str,
        segment: SegmentData | None,
        removed: Sequence[str],
        replace_all: bool,
    ) -> tuple[np.ndarray, np.ndarray, list[StoredDocument]]:
        """Ids, vectors and documents of every passage (``chunks``) or sentence of the
        state a write leads to: the kept ones of the index plus the segment's."""
        ids: list[np.ndarray] = []
        vectors: list[np.ndarray] = []
        docs: list[StoredDocument] = []
        if not replace_all:
            gone = set(removed)
            kept = [d for d in self.index.documents.values() if d.doc_id not in gone]
            old = np.asarray([i for d in kept for i in d.vector_ids(which)], dtype=np.int64)
            ids.append(old)
            vectors.append(self.index.vector_index(which).reconstruct(old))
            docs.extend(d for d in kept for _ in d.vector_ids(which))
        if segment is not None:
            new_ids, new_vectors = segment.vectors_of(which)
            ids.append(new_ids)
            vectors.append(new_vectors)
            docs.extend(segment.row_documents(which))
        if not ids:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.embedder.dim), np.float32), []
        return (
            np.concatenate(ids),
            np.ascontiguousarray(np.vstack(vectors), dtype=np.float32),
            docs,
        )

    def reindex(self) -> dict[str, Any]:
        """Rebuild the vector indexes from the stored vectors (no embedding) with the kinds
        the collection's policy chooses; returns the new ``ann`` record of the manifest."""
        with self._mutex, self.store.lock():
            self._refresh()
            manifest = self._rebuild_vectors(self.index.backend)
            if "ann" in manifest:
                return dict(manifest["ann"])
            return {
                which: {"kind": "milvus", "index": manifest["vector_store"]["index"], "name": name}
                for which, name in manifest["vector_store"]["collections"].items()
            }

    def migrate(self, backend: VectorBackend) -> dict[str, Any]:
        """Copy every vector into ``backend`` (FAISS or Milvus; none is re-embedded), commit
        the index to it, then drop what the old backend held; returns the manifest's
        ``vector_store`` record."""
        with self._mutex, self.store.lock():
            self._refresh()
            if backend_of(self.index.manifest) == backend.kind:
                raise IndexMismatchError(
                    f"the index in {self.store.path}/ already keeps its vectors in {backend.kind}"
                )
            return dict(self._rebuild_vectors(backend)["vector_store"])

    def _rebuild_vectors(self, backend: VectorBackend) -> dict[str, Any]:
        """Build both vector stores anew in ``backend`` from the stored vectors, commit, and
        drop what the previous stores kept outside the segments; returns the committed
        manifest. Call with the write mutex and folder lock held."""
        index = self.index
        manifest = copy.deepcopy(index.manifest)
        manifest["generation"] = int(manifest.get("generation", 0)) + 1
        manifest["updated"] = now()
        before, old_backend = index.manifest, index.backend
        index.backend = backend
        try:
            rebuilt = self._plan_vectors(manifest, None, [], False, force=True)
            try:
                self.store.commit(manifest)
            except BaseException:
                self._abandon(rebuilt)
                raise
        except BaseException:
            index.backend = old_backend
            raise
        with index.lock.write():
            index.apply([], [], manifest, rebuilt)
        self.store.discard_ann_files(before, manifest)
        old_backend.discard(before, manifest)
        return manifest

    def compact(self) -> None:
        """Merge every segment into one, dropping deleted documents (ids are kept, so the
        in-memory index does not change). Call with the write mutex and folder lock held."""
        index = self.index
        docs = list(index.documents.values())
        chunk_ids = [c for d in docs for c in d.chunk_ids]
        sentence_ids = [s for d in docs for s in d.sentence_ids]
        name = self.store.new_segment_name()
        stored = [replace(d, segment=name) for d in docs]
        segment = SegmentData(
            name,
            stored,
            np.asarray(chunk_ids, dtype=np.int64),
            [index.chunks[c] for c in chunk_ids],
            index.chunk_matrix(chunk_ids),
            np.asarray(sentence_ids, dtype=np.int64),
            [index.sentences[s] for s in sentence_ids],
            index.sentence_matrix(sentence_ids),
        )
        manifest = copy.deepcopy(index.manifest)
        manifest["generation"] = int(manifest["generation"]) + 1
        manifest["updated"] = now()
        manifest["segments"] = [self.store.write_segment(segment)]
        try:
            self.store.commit(manifest)
        except BaseException:
            if not self.store.names(name):
                self.store.discard_segment(name)
            raise
        with index.lock.write():
            index.documents = {d.doc_id: d for d in stored}
            index.manifest = manifest
        self.store.collect_garbage(manifest)


def _stored(
    documents: Sequence[Document],
    chunks: Sequence[Chunk],
    chunk_ids: Sequence[int],
    sentences: Sequence[Sentence],
    sentence_ids: Sequence[int],
    segment: str,
) -> list[StoredDocument]:
    per_doc: dict[str, list[int]] = {}
    for cid, chunk in zip(chunk_ids, chunks, strict=True):
        per_doc.setdefault(chunk.doc_id, []).append(cid)
    per_doc_sentences: dict[str, list[int]] = {}
    for sid, sentence in zip(sentence_ids, sentences, strict=True):
        per_doc_sentences.setdefault(sentence.doc_id, []).append(sid)
    return [
        StoredDocument(
            d.doc_id,
            d.title,
            d.source,
            d.sha256,
            d.text,
            d.published,
            dict(d.metadata),
            tuple(per_doc.get(d.doc_id, ())),
            tuple(per_doc_sentences.get(d.doc_id, ())),
            segment,
        )
        for d in documents
    ]


def build_index(
    documents: Sequence[Document],
    embedder: Embedder,
    index_dir: Path,
    chunk_size: int,
    chunk_overlap: int,
    progress: bool = False,
    ann: AnnPolicy | None = None,
    backend: VectorBackend | None = None,
) -> Index:
    """Chunk, embed and store ``documents`` as a new index in ``index_dir``."""
    return Collection.create(
        index_dir,
        embedder,
        documents,
        chunk_size,
        chunk_overlap,
        progress,
        ann=ann,
        backend=backend,
    ).index
