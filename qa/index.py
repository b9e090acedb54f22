"""The loaded index: vector stores, BM25 postings, passages, sentences and documents.

Passages and sentences have global integer ids (never reused once committed); two vector
stores (:mod:`qa.vectors`: FAISS in the process — exact, HNSW or IVF, as the manifest says —
or Milvus collections) map those ids to vectors, so a document can be added or removed
without touching the others. An :class:`Index` is changed only by :meth:`Index.apply`,
called by the collection under the write side of ``lock``; queries hold the read side, so
every answer comes from one consistent state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.ann import AnnSpec
from qa.chunk import Chunk, sentence_spans
from qa.core.locks import RWLock
from qa.filters import Filters
from qa.lexical import BM25Index
from qa.store import AnnData, SegmentData, Sentence, Store, StoredDocument
from qa.vectors import FaissBackend, VectorBackend, VectorStore

MIN_SENTENCE_CHARS = 20  # shorter sentences (list markers, "Sim.") are not matched alone

__all__ = ["Filters", "Index", "Selection", "Sentence", "StoredDocument", "passage_sentences"]


def passage_sentences(chunks: Sequence[Chunk], ids: Sequence[int]) -> list[Sentence]:
    """The distinct sentences of ``chunks`` (overlapping passages share theirs); a sentence
    names the ids of the passages holding it."""
    holders: dict[tuple[str, int, int], list[int]] = {}
    for cid, chunk in zip(ids, chunks, strict=True):
        for start, end in sentence_spans(chunk.text):
            if end - start >= MIN_SENTENCE_CHARS:
                key = (chunk.doc_id, chunk.char_start + start, chunk.char_start + end)
                holders.setdefault(key, []).append(int(cid))
    return [Sentence(d, s, e, tuple(rows)) for (d, s, e), rows in holders.items()]


@dataclass(frozen=True)
class Selection:
    """The passages and sentences a filtered query may return."""

    filters: Filters
    chunk_ids: np.ndarray
    sentence_ids: np.ndarray
    chunk_mask: np.ndarray  # boolean over passage ids, for the lexical side

    def ids(self, which: str) -> np.ndarray:
        """The allowed passage (``chunks``) or sentence ids."""
        return self.chunk_ids if which == "chunks" else self.sentence_ids


def ann_spec(manifest: dict[str, Any], which: str) -> AnnSpec:
    """The vector index kind the manifest names for ``chunks`` or ``sentences`` (flat when
    it names none)."""
    return AnnSpec.from_record((manifest.get("ann") or {}).get(which))


class Index:
    """One collection in memory (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        manifest: dict[str, Any],
        dim: int,
        ann: dict[str, AnnData] | None = None,
        backend: VectorBackend | None = None,
    ) -> None:
        self.path = Path(path)
        self.dim = dim
        self.backend: VectorBackend = backend or FaissBackend()
        self.lock = RWLock()
        self.reset(manifest, ann)

    def reset(
        self,
        manifest: dict[str, Any],
        ann: dict[str, AnnData] | None = None,
        stores: dict[str, VectorStore] | None = None,
    ) -> None:
        """Forget every document (call with the write lock when others may read); the vector
        stores are ``stores`` where given (already built for ``manifest``), else the ones the
        manifest names (``ann``: the centroids of its ivf indexes, the saved graphs of its
        hnsw ones)."""
        self.manifest = manifest
        self.documents: dict[str, StoredDocument] = {}
        self.chunks: dict[int, Chunk] = {}
        self.sentences: dict[int, Sentence] = {}
        self.chunk_sentences: dict[int, list[int]] = {}
        ann, stores = ann or {}, stores or {}
        opened = {
            which: stores[which]
            if which in stores
            else self.backend.open(which, manifest, self.dim, ann.get(which, AnnData()))
            for which in ("chunks", "sentences")
        }
        self.vectors: VectorStore = opened["chunks"]
        self.sentence_vectors: VectorStore = opened["sentences"]
        self.lexical = BM25Index(self.language)

    @classmethod
    def load(
        cls,
        store: Store,
        manifest: dict[str, Any],
        backend: VectorBackend | None = None,
        repair: bool = True,
    ) -> Index:
        """The collection described by ``manifest`` (files checked against its checksums);
        ``repair``: the caller holds the folder's lock and may fix an external store."""
        dim = int(manifest["model"]["dim"])
        index = cls(store.path, manifest, dim, store.read_ann(manifest), backend)
        index.apply([store.read_segment(entry) for entry in manifest["segments"]], (), manifest)
        index.settle(repair)
        return index

    def settle(self, repair: bool = True) -> None:
        """After loading the segments into stores that already held vectors (a saved hnsw
        graph, a Milvus collection): make each store hold exactly the live ids."""
        for which, live in (("chunks", self.chunks), ("sentences", self.sentences)):
            self.vector_index(which).settle(np.fromiter(live, dtype=np.int64), repair)

    def vector_index(self, which: str) -> VectorStore:
        """The vector index of the passages (``chunks``) or of the sentences."""
        return self.vectors if which == "chunks" else self.sentence_vectors

    # ---------------------------------------------------------------- properties
    @property
    def model_name(self) -> str:
        return str(self.manifest["model"]["name"])

    @property
    def language(self) -> str:
        """Main language of the collection's text (ISO 639-1)."""
        return str(self.manifest.get("language", "pt"))

    @property
    def generation(self) -> int:
        return int(self.manifest.get("generation", 0))

    # ------------------------------------------------------------------- changes
    def apply(
        self,
        added: Sequence[SegmentData],
        removed: Iterable[str],
        manifest: dict[str, Any],
        rebuilt: dict[str, VectorStore] | None = None,
    ) -> None:
        """Remove the documents ``removed`` (every passage, sentence, vector and posting of
        them), then add the segments ``added``; ``manifest`` becomes the index's manifest.
        ``rebuilt`` replaces the ``chunks`` and/or ``sentences`` vector index by one that
        already holds the vectors of the new state."""
        rebuilt = rebuilt or {}
        chunk_drop: list[int] = []
        sentence_drop: list[int] = []
        for doc_id in removed:
            doc = self.documents.pop(doc_id, None)
            if doc is None:
                continue
            chunk_drop.extend(doc.chunk_ids)
            sentence_drop.extend(doc.sentence_ids)
        if chunk_drop:
            if "chunks" not in rebuilt:
                self.vectors.remove(np.asarray(chunk_drop, dtype=np.int64))
            self.lexical.remove(chunk_drop)
            for cid in chunk_drop:
                self.chunks.pop(cid, None)
                self.chunk_sentences.pop(cid, None)
        if sentence_drop and "sentences" not in rebuilt:
            self.sentence_vectors.remove(np.asarray(sentence_drop, dtype=np.int64))
        for sid in sentence_drop:
            self.sentences.pop(sid, None)
        for seg in added:
            if "chunks" not in rebuilt:
                self.vectors.add(seg.chunk_ids, seg.chunk_vectors, seg.row_documents("chunks"))
            if "sentences" not in rebuilt:
                self.sentence_vectors.add(
                    seg.sentence_ids, seg.sentence_vectors, seg.row_documents("sentences")
                )
            for cid, chunk in zip(seg.chunk_ids.tolist(), seg.chunks, strict=True):
                self.chunks[cid] = chunk
                self.chunk_sentences[cid] = []
            self.lexical.add(
                (cid, chunk.text)
                for cid, chunk in zip(seg.chunk_ids.tolist(), seg.chunks, strict=True)
            )
            for sid, sentence in zip(seg.sentence_ids.tolist(), seg.sentences, strict=True):
                self.sentences[sid] = sentence
                for cid in sentence.chunks:
                    self.chunk_sentences[cid].append(sid)
            for doc in seg.documents:
                self.documents[doc.doc_id] = doc
        self.vectors = rebuilt.get("chunks", self.vectors)
        self.sentence_vectors = rebuilt.get("sentences", self.sentence_vectors)
        # search-time parameters (hnsw ef_search) change without a rebuild
        self.vectors.configure(manifest, "chunks")
        self.sentence_vectors.configure(manifest, "sentences")
        self.manifest = manifest

    # -------------------------------------------------------------------- search
    def select(self, filters: Filters | None) -> Selection | None:
        """The passages and sentences of the documents ``filters`` accepts (``None``: all)."""
        if filters is None:
            return None
        docs = [d for d in self.documents.values() if filters.accepts(d)]
        chunk_ids = np.asarray([c for d in docs for c in d.chunk_ids], dtype=np.int64)
        sentence_ids = np.asarray([s for d in docs for s in d.sentence_ids], dtype=np.int64)
        mask = np.zeros(int(chunk_ids.max()) + 1 if len(chunk_ids) else 0, dtype=bool)
        mask[chunk_ids] = True
        return Selection(filters, chunk_ids, sentence_ids, mask)

    def search(
        self, query: np.ndarray, k: int, selection: Selection | None = None
    ) -> list[tuple[int, float]]:
        """Ids and cosine scores of the ``k`` nearest passages to one normalised query."""
        return self._search("chunks", query, k, selection)

    def search_sentences(
        self, query: np.ndarray, k: int, selection: Selection | None = None
    ) -> list[tuple[int, float]]:
        """Ids and cosine scores of the ``k`` nearest sentences."""
        return self._search("sentences", query, k, selection)

    def _search(
        self, which: str, query: np.ndarray, k: int, selection: Selection | None
    ) -> list[tuple[int, float]]:
        """The store's hits among the ids this state holds: an external store may briefly
        hold vectors of a write being committed or of documents just deleted."""
        store = self.vector_index(which)
        if selection is None:
            hits = store.search(query, k)
        else:
            hits = store.search(query, k, selection.ids(which), selection.filters)
        held = self.chunks if which == "chunks" else self.sentences
        return [hit for hit in hits if hit[0] in held]

    def search_lexical(
        self, question: str, k: int, selection: Selection | None = None
    ) -> list[tuple[int, float]]:
        """Ids and BM25 scores of the best ``k`` passages for ``question``."""
        return self.lexical.search(question, k, None if selection is None else selection.chunk_mask)

    def sentence_matrix(self, ids: Sequence[int]) -> np.ndarray:
        """Stored vectors of the given sentences, one row each."""
        return self.sentence_vectors.reconstruct(np.asarray(ids, dtype=np.int64))

    def chunk_matrix(self, ids: Sequence[int]) -> np.ndarray:
        """Stored vectors of the given passages, one row each."""
        return self.vectors.reconstruct(np.asarray(ids, dtype=np.int64))
