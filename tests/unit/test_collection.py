"""Adding, updating and deleting documents: incremental, complete, atomic on disk."""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import pytest

from qa.collection import FolderCollection
from qa.core.errors import DocumentNotFoundError, IngestError
from qa.ingest import make_text_document
from qa.search import DenseRetriever, LexicalRetriever, search
from qa.store import Counts, Filters, Store
from tests.helpers import (
    CANTOR_DOC,
    HUANG_DOC,
    PETRO,
    VALE,
    CountingEmbedder,
    faiss_backend,
    open_index,
    snapshot,
)


@pytest.fixture
def collection(settings, seed_index, embedder, tmp_path):
    shutil.copytree(settings.index_dir, tmp_path / "index")
    return FolderCollection.open(tmp_path / "index", faiss_backend(), CountingEmbedder(embedder))


def traces(index, doc_id):
    """Everything in memory that still belongs to ``doc_id``."""
    found = [c for c in index.chunks.values() if c.doc_id == doc_id]
    found += [s for s in index.sentences.values() if s.doc_id == doc_id]
    found += [cid for cid in index.lexical.passage_ids().tolist() if cid not in index.chunks]
    return found


def consistent(index):
    assert index.vectors.ntotal == len(index.chunks) == len(index.lexical)
    assert index.sentence_vectors.ntotal == len(index.sentences)
    assert sum(d.n_chunks for d in index.documents.values()) == len(index.chunks)
    assert index.manifest.counts == Counts(
        documents=len(index.documents),
        chunks=len(index.chunks),
        sentences=len(index.sentences),
    )
    for cid, chunk in index.chunks.items():
        assert index.documents[chunk.doc_id].text[chunk.char_start : chunk.char_end] == chunk.text
        assert cid in index.documents[chunk.doc_id].chunk_ids


def test_add_update_delete_leave_no_stale_trace(collection, embedder):
    index = collection.index
    petro = make_text_document("petro.txt", PETRO, "test")
    [result] = collection.upsert([petro])
    assert (result.status, result.chunks) == ("new", 1)
    embedded = collection.embedder.passages
    assert embedded == 1 + len(index.documents["petro.txt"].sentence_ids)
    consistent(index)
    dense = DenseRetriever(embedder)
    assert search(dense, index, "Petrobras record profit", 1).hits[0].chunk.doc_id == "petro.txt"

    # same content again: nothing embedded, nothing written
    before = snapshot(collection.store.path)
    assert collection.upsert([petro])[0].status == "unchanged"
    assert collection.embedder.passages == embedded
    assert snapshot(collection.store.path) == before

    # new text under the same id: only the new version can be found
    [result] = collection.upsert([make_text_document("petro.txt", VALE, "test")])
    assert result.status == "updated"
    consistent(index)
    texts = [c.text for c in index.chunks.values() if c.doc_id == "petro.txt"]
    assert texts and all("Petrobras" not in t for t in texts)
    lexical = LexicalRetriever()
    hits = search(lexical, index, "Petrobras pré-sal", 5).hits
    assert all(h.chunk.doc_id != "petro.txt" for h in hits)

    # metadata only: vectors reused, not re-embedded
    embedded = collection.embedder.passages
    changed = make_text_document("petro.txt", VALE, "test", metadata={"desk": "economia"})
    assert collection.upsert([changed])[0].status == "updated"
    assert collection.embedder.passages == embedded
    assert index.documents["petro.txt"].metadata == {"desk": "economia"}
    consistent(index)

    collection.delete(["petro.txt"])
    assert "petro.txt" not in index.documents and not traces(index, "petro.txt")
    consistent(index)
    assert set(index.documents) == {HUANG_DOC, CANTOR_DOC}

    # the disk holds the same state, and only the segments the manifest names
    loaded = open_index(collection.store.path)
    assert set(loaded.documents) == {HUANG_DOC, CANTOR_DOC}
    assert loaded.chunks == index.chunks
    consistent(loaded)
    assert {p.name for p in (collection.store.path / "segments").iterdir()} == {
        s.name for s in loaded.manifest.segments
    }


def test_bad_writes_change_nothing(collection):
    before = snapshot(collection.store.path)
    with pytest.raises(DocumentNotFoundError, match="no document with id 'nope'"):
        collection.delete([HUANG_DOC, "nope"])
    with pytest.raises(IngestError, match="no text to index"):
        collection.upsert([make_text_document("empty.txt", "Deixe um comentário", "test")])
    doc = make_text_document("a.txt", PETRO, "test")
    with pytest.raises(IngestError, match="appears twice"):
        collection.upsert([doc, doc])
    assert snapshot(collection.store.path) == before
    assert set(collection.index.documents) == {HUANG_DOC, CANTOR_DOC}


def test_filters_apply_before_the_top_k(collection, embedder):
    collection.upsert(
        [
            make_text_document(
                "petro.txt", PETRO, "agencia", published="2025-10-30", metadata={"desk": "eco"}
            ),
            make_text_document(
                "vale.txt", VALE, "jornal", published="2025-11-05", metadata={"desk": "eco"}
            ),
        ]
    )
    index = collection.index
    dense = DenseRetriever(embedder)
    question = "what did Huang say about investors?"
    only = search(dense, index, question, 3, Filters(doc_ids=frozenset({"vale.txt"}))).hits
    assert [h.chunk.doc_id for h in only] == ["vale.txt"]
    huang = Filters(doc_ids=frozenset({HUANG_DOC}))
    hits = search(dense, index, "Petrobras lucro", 5, huang).hits
    assert len(hits) == 5 and {h.chunk.doc_id for h in hits} == {HUANG_DOC}
    cases = {
        Filters(source="jornal"): {"vale.txt"},
        Filters(published_after=date(2025, 11, 1)): {"vale.txt"},
        Filters(published_before=date(2025, 11, 1)): {"petro.txt"},
        Filters(metadata=(("desk", "eco"),)): {"petro.txt", "vale.txt"},
        Filters(metadata=(("desk", "esporte"),)): set(),
    }
    for filters, expected in cases.items():
        for retriever in (dense, LexicalRetriever()):
            hits = search(retriever, index, "lucro prejuízo trimestre", 10, filters).hits
            assert {h.chunk.doc_id for h in hits} == expected, filters


def test_compaction_keeps_every_document_and_drops_deleted_ones(collection, monkeypatch):
    import qa.collection.folder.collection

    monkeypatch.setattr(qa.collection.folder.collection, "MAX_SEGMENTS", 2)
    collection.upsert([make_text_document("p.txt", PETRO, "t")])
    collection.upsert([make_text_document("v.txt", VALE, "t")])
    collection.delete([HUANG_DOC])
    assert len(collection.index.manifest.segments) <= 2
    loaded = open_index(collection.store.path)
    assert set(loaded.documents) == {CANTOR_DOC, "p.txt", "v.txt"}
    assert loaded.chunks == collection.index.chunks
    consistent(loaded)


@pytest.mark.parametrize("step", range(10))
def test_a_write_interrupted_at_any_file_operation_leaves_old_or_new_state(
    collection, monkeypatch, step
):
    """Fail the n-th durable file operation of an update (as a crash there would)."""
    calls = {"n": 0}

    def failing(real):
        def wrapper(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == step + 1:
                raise OSError("disk gone")
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(os, "fsync", failing(os.fsync))
    path = collection.store.path
    original = collection.index.documents[HUANG_DOC].text
    try:
        collection.upsert([make_text_document(HUANG_DOC, PETRO, "t")])
        interrupted = False
    except OSError:
        interrupted = True
    monkeypatch.undo()
    reopened = FolderCollection.open(path, faiss_backend(), collection.embedder)
    text = reopened.index.documents[HUANG_DOC].text
    assert text == PETRO if not interrupted else text in (original, PETRO)
    assert set(reopened.index.documents) == {HUANG_DOC, CANTOR_DOC}
    consistent(reopened.index)
    assert {p.name for p in (path / "segments").iterdir()} == {
        s.name for s in Store(path).read_manifest().segments
    }


def test_a_commit_whose_manifest_cannot_be_read_back_keeps_its_segment(collection, monkeypatch):
    """The manifest was switched, then the write failed and the manifest could not be read
    back: the segment it names must stay (discarding it would break the index)."""
    from qa.store import folder

    path = collection.store.path
    real_replace, switched = os.replace, []

    def replace(src, dst):
        real_replace(src, dst)
        switched.append(Path(dst).name == "manifest.json")

    def fsync_dir(directory):
        if any(switched):
            raise OSError("disk gone after the rename")

    monkeypatch.setattr(folder.os, "replace", replace)
    monkeypatch.setattr(folder, "fsync_dir", fsync_dir)
    for method in ("read_bytes", "read_text"):  # the manifest cannot be read back
        real = getattr(Path, method)

        def unreadable(self, *args, real=real, **kwargs):
            if self.name == "manifest.json" and any(switched):
                raise OSError("unreadable")
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Path, method, unreadable)
    with pytest.raises(OSError, match="after the rename"):
        collection.upsert([make_text_document("petro", PETRO, "t")])
    monkeypatch.undo()
    reopened = FolderCollection.open(path, faiss_backend(), collection.embedder)
    assert "petro" in reopened.index.documents
    consistent(reopened.index)


def test_compaction_merges_the_small_segments_and_leaves_the_large(collection, monkeypatch):
    """Past MAX_SEGMENTS the smaller half merges (ids kept, in place in the writer); the
    seed segment, the largest, is not rewritten; a segment whose every row is gone lets
    its files go."""
    import qa.collection.folder.collection
    from qa.store.records import TextRef

    monkeypatch.setattr(qa.collection.folder.collection, "MAX_SEGMENTS", 3)
    seed_segment = collection.index.manifest.segments[0].name
    for i, text in enumerate((PETRO, VALE, PETRO + " Mais.", VALE + " Mais.")):
        collection.upsert([make_text_document(f"n{i}.txt", text, "t")])
    names = [s.name for s in collection.index.manifest.segments]
    assert len(names) <= 3 and seed_segment in names  # the large one stays
    assert all(isinstance(d.body, TextRef) for d in collection.index.documents.values())
    loaded = open_index(collection.store.path)
    assert dict(loaded.chunks) == dict(collection.index.chunks)
    assert {d: doc.segment for d, doc in loaded.documents.items()} == {
        d: doc.segment for d, doc in collection.index.documents.items()
    }
    query = loaded.vectors_of("chunks", [next(iter(loaded.chunks))])[0]
    assert loaded.search("chunks", query, 5) == collection.index.search("chunks", query, 5)
    consistent(collection.index)
    # every document of a segment deleted: the store lets go of its file
    newest = [d for d, doc in collection.index.documents.items() if doc.segment == names[-1]]
    collection.delete(newest)
    blocks = collection.index.stores["chunks"].vectors.blocks  # type: ignore[attr-defined]
    assert sum(type(b).__name__ == "_Gone" for b in blocks) >= 1
    consistent(collection.index)
