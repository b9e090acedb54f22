"""The loaded index: documents, passages, sentences, BM25 postings and the two vector stores.

Passages and sentences have global integer ids (never reused once committed); the vector
stores (:mod:`qa.vectors`) map those ids to vectors, so a document can be added or removed
without touching the others. An :class:`Index` changes only through :meth:`Index.apply`,
called by the collection (:mod:`qa.collection.folder.collection`) under the write side of its lock;
readers hold the read side, so every answer comes from one consistent state.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from qa.embed.companion import COMPANION_DIM
from qa.index.companion import CompanionVectors
from qa.index.lexical import BM25Index
from qa.index.tables import PassageTable, SentenceTable
from qa.index.view import PassageSentences, Selection, ViewBase
from qa.store import Filters, Manifest, SegmentData, Store, StoredDocument
from qa.vectors import VECTOR_KINDS, Rows, VectorBackend, VectorKind, VectorStore


@dataclass(frozen=True)
class IndexUpdate:
    """One committed change, as :meth:`Index.apply` publishes it."""

    manifest: Manifest  # the committed manifest, which becomes the index's
    added: SegmentData | None = None
    removed: Sequence[str] = ()  # ids of documents whose stored version leaves
    stores: Mapping[VectorKind, VectorStore] = field(default_factory=dict)  # replacements


class Index(ViewBase):
    """One collection in memory (see the module docstring)."""

    def __init__(self, manifest: Manifest, stores: Mapping[VectorKind, VectorStore]) -> None:
        self.manifest = manifest
        self.documents: dict[str, StoredDocument] = {}
        self.chunks = PassageTable(self.documents)
        self.sentences = SentenceTable()
        self.chunk_sentences = PassageSentences(self.chunks)
        self.stores: dict[VectorKind, VectorStore] = dict(stores)
        self.lexical = BM25Index(manifest.language)
        # the second encoder's passage vectors, when the index keeps them
        self.companion = CompanionVectors(COMPANION_DIM) if manifest.companion else None
        self._sentence_terms: dict[int, frozenset[str]] = {}  # stemmed on first use

    @classmethod
    def open(cls, store: Store, manifest: Manifest, backend: VectorBackend) -> Index:
        """An index of no documents with the stores ``manifest`` names (empty ones for a
        new index), ready to load segments into."""
        dim = manifest.model.dim
        return cls(
            manifest,
            {w: backend.open(manifest.vectors, w, dim, store.blobs) for w in VECTOR_KINDS},
        )

    @classmethod
    def load(cls, store: Store, manifest: Manifest, backend: VectorBackend, repair: bool) -> Index:
        """The collection ``manifest`` describes, its files checked against their
        checksums; ``repair``: the caller holds the folder's lock and may fix an external
        store an interrupted write left behind."""
        index = cls.open(store, manifest, backend)
        for entry in manifest.segments:
            index._add(store.read_segment(entry), set())
        index._configure()
        for which in VECTOR_KINDS:  # the stores now hold exactly the live ids
            live = index.chunks if which == "chunks" else index.sentences
            index.stores[which].settle(np.fromiter(live, dtype=np.int64), repair)
        index.stores["chunks"].prepare()  # the sentences' store is only read by id
        return index

    @property
    def vectors(self) -> VectorStore:
        """The passages' vector store."""
        return self.stores["chunks"]

    @property
    def sentence_vectors(self) -> VectorStore:
        return self.stores["sentences"]

    # ------------------------------------------------------------------- changes
    def apply(self, update: IndexUpdate) -> None:
        """Publish a committed change: remove the documents ``update.removed`` (every
        passage, sentence, vector and posting of them), add the segment ``update.added``,
        swap in the replacement stores, and take the new manifest."""
        replaced = set(update.stores)
        self._remove(update.removed, replaced)
        if update.added is not None:
            self._add(update.added, replaced)
        self.stores.update(update.stores)
        if "chunks" in update.stores:
            update.stores["chunks"].prepare()
        self.manifest = update.manifest
        self._configure()

    def _configure(self) -> None:
        for which in VECTOR_KINDS:
            self.stores[which].configure(
                self.manifest.vectors, which, self.manifest.next_ids.of(which)
            )

    def _remove(self, doc_ids: Sequence[str], replaced: set[VectorKind]) -> None:
        gone = [doc for d in doc_ids if (doc := self.documents.pop(d, None)) is not None]
        chunk_ids = [c for doc in gone for c in doc.chunk_ids]
        sentence_ids = [s for doc in gone for s in doc.sentence_ids]
        if "chunks" not in replaced:
            self.stores["chunks"].remove(np.asarray(chunk_ids, dtype=np.int64))
        if "sentences" not in replaced:
            self.stores["sentences"].remove(np.asarray(sentence_ids, dtype=np.int64))
        self.lexical.remove(chunk_ids)
        if self.companion is not None:
            self.companion.remove(chunk_ids)
        self.chunks.remove(np.asarray(chunk_ids, dtype=np.int64))
        self.sentences.remove(np.asarray(sentence_ids, dtype=np.int64))
        for sid in sentence_ids:
            self._sentence_terms.pop(sid, None)

    def _add(self, segment: SegmentData, replaced: set[VectorKind]) -> None:
        for which in VECTOR_KINDS:
            if which not in replaced:
                ids, block, rows = segment.vector_block(which)
                self.stores[which].add_block(ids, block, rows, segment.row_documents(which))
        if self.companion is not None and segment.chunk_companion is not None:
            self.companion.add(segment.chunk_ids, segment.chunk_companion)
        s = segment
        self.chunks.add(s.chunk_ids, s.chunk_docs, s.chunk_spans, s.chunk_numbers)
        self.sentences.add(
            s.sentence_ids, s.sentence_docs, s.sentence_spans, s.holders_ptr, s.holders
        )
        self.chunks.link(s.sentence_ids, s.holders_ptr, s.holders)
        postings = s.postings or self.lexical.terms_of.postings(s.passage_texts())
        self.lexical.add_postings(s.chunk_ids, postings)
        for doc in segment.documents:
            self.documents[doc.doc_id] = doc

    # -------------------------------------------------------------------- reading
    def rows(self, which: VectorKind, exclude: Collection[str] = ()) -> Rows:
        """Ids, stored vectors and documents of every passage (``chunks``) or sentence of
        the live documents but ``exclude``."""
        gone = set(exclude)
        kept = [d for d in self.documents.values() if d.doc_id not in gone]
        ids = np.asarray([i for d in kept for i in d.vector_ids(which)], dtype=np.int64)
        docs = [d for d in kept for _ in d.vector_ids(which)]
        return Rows(ids, self.stores[which].reconstruct(ids), docs)

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

    def search_many(
        self, which: VectorKind, queries: np.ndarray, k: int, selection: Selection | None = None
    ) -> list[list[tuple[int, float]]]:
        """Ids and cosine scores of the ``k`` nearest passages (``chunks``) or sentences to
        each normalised row of ``queries``, in one pass of the store, among the ids this
        state holds (an external store may briefly hold vectors of a write being committed,
        or of documents just deleted)."""
        store = self.stores[which]
        if selection is None:
            found = store.search_many(queries, k)
        else:
            found = store.search_many(queries, k, selection.ids(which), selection.filters)
        table = self.chunks.rows if which == "chunks" else self.sentences.rows
        out = []
        for hits in found:
            ids = np.fromiter((i for i, _ in hits), dtype=np.int64, count=len(hits))
            held = table.held(ids).tolist()
            out.append([hit for hit, kept in zip(hits, held, strict=True) if kept])
        return out

    def search_lexical(
        self, question: str, k: int, selection: Selection | None = None
    ) -> list[tuple[int, float]]:
        """Ids and BM25 scores of the best ``k`` passages for ``question``."""
        return self.lexical.search(question, k, None if selection is None else selection.chunk_mask)

    def sentence_terms(self, sentence: int) -> frozenset[str]:
        """The stemmed, stopword-free terms of a stored sentence (stemmed once)."""
        terms = self._sentence_terms.get(sentence)
        if terms is None:
            s = self.sentences[sentence]
            text = self.documents[s.doc_id].text[s.char_start : s.char_end]
            terms = self._sentence_terms[sentence] = self.lexical.terms(text)
        return terms

    def vectors_of(self, which: VectorKind, ids: Sequence[int]) -> np.ndarray:
        """Stored vectors of the given passages or sentences, one row each."""
        return self.stores[which].reconstruct(np.asarray(ids, dtype=np.int64))


def segment_rows(segment: SegmentData, which: VectorKind) -> Rows:
    """The passage (``chunks``) or sentence rows of a segment."""
    ids, vectors = segment.vectors_of(which)
    return Rows(ids, vectors, segment.row_documents(which))
