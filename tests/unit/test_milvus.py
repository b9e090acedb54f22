"""The Milvus vector store (on Milvus Lite): filter expressions, interrupted writes,
restarts and migrations without re-embedding."""

from __future__ import annotations

import shutil
import threading
import time
from datetime import date

import numpy as np
import pytest

from qa.collection import FolderCollection
from qa.collection.milvus.retire import Retirer
from qa.ingest import make_text_document
from qa.milvus.expressions import filter_expression, metadata_tag, quote
from qa.search import DenseRetriever, search
from qa.store import Chunking, Filters, Store
from qa.vectors import make_backend
from qa.vectors.milvus.backend import MilvusBackend, MilvusTransaction
from qa.vectors.milvus.store import MilvusVectors
from tests.helpers import HUANG_DOC, PETRO, VALE, CountingEmbedder, faiss_backend, open_index

QUESTION = "what did Huang say about investors?"


def test_filter_expressions_quote_and_type_their_values():
    assert quote('a "b" \\ c\nd') == '"a \\"b\\" \\\\ c\\nd"'
    assert quote("a\"'b") == '"a\\"\\\'b"'  # both quotes escaped
    assert metadata_tag("n", 1) != metadata_tag("n", 1.0) != metadata_tag("n", True)
    assert metadata_tag("x", -0.0) == metadata_tag("x", 0.0)
    assert filter_expression(None) == filter_expression(Filters()) == ""
    assert filter_expression(Filters(doc_ids=frozenset())) == "id < 0"
    expr = filter_expression(
        Filters(
            doc_ids=frozenset({'a"b'}),
            source="s",
            published_before=date(2025, 1, 2),
            metadata=(("k", "v"),),
        )
    )
    assert expr == (
        '(doc_id in ["a\\"b"]) and (source == "s") and '
        f"(published >= 1 and published <= {date(2025, 1, 2).toordinal()}) and "
        '(array_contains(tags, "[\\"k\\", \\"str\\", \\"v\\"]"))'
    )


@pytest.fixture
def milvus_settings(settings, tmp_path):
    return settings.model_copy(update={"vector_store": "milvus", "index_dir": tmp_path / "index"})


@pytest.fixture
def milvus_collection(milvus_settings, embedder, seed_docs):
    """The seed articles indexed into Milvus Lite."""
    return FolderCollection.create(
        milvus_settings.index_dir,
        make_backend(milvus_settings),
        embedder,
        seed_docs,
        Chunking(size=700, overlap=150),
    )


@pytest.fixture
def faiss_copy(settings, seed_index, tmp_path):
    return shutil.copytree(settings.index_dir, tmp_path / "faiss")


def dense_top(collection, question=QUESTION, k=5):
    hits = search(DenseRetriever(collection.embedder), collection.index, question, k)
    return [(h.chunk.chunk_id, round(h.score, 4)) for h in hits.hits]


def open_milvus(settings, embedder):
    return FolderCollection.open(settings.index_dir, make_backend(settings, "milvus"), embedder)


def test_migrate_both_ways_keeps_every_answer_and_embeds_nothing(
    settings, embedder, faiss_copy, milvus_settings
):
    counting = CountingEmbedder(embedder)
    milvus = milvus_settings.model_copy(update={"index_dir": faiss_copy})
    on_faiss = FolderCollection.open(faiss_copy, faiss_backend(), counting)
    expected = dense_top(on_faiss)
    record = on_faiss.rebuild_vectors(make_backend(milvus, "milvus")).vectors
    assert record.kind == "milvus" and set(record.state()["collections"]) == {"chunks", "sentences"}
    assert not (faiss_copy / "ann").exists() or not any((faiss_copy / "ann").iterdir())
    assert dense_top(on_faiss) == expected
    reopened = open_milvus(milvus, counting)  # a restart: vectors are read from Milvus
    assert dense_top(reopened) == expected
    stores = [reopened.index.vectors, reopened.index.sentence_vectors]
    assert all(isinstance(s, MilvusVectors) for s in stores)
    assert [s.count() for s in stores] == [
        len(reopened.index.chunks),
        len(reopened.index.sentences),
    ]
    reopened.rebuild_vectors(faiss_backend())
    assert dense_top(reopened) == expected
    vectors = FolderCollection.open(faiss_copy, faiss_backend(), counting).index.manifest.vectors
    assert vectors.kind == "faiss"
    backend = make_backend(milvus, "milvus")
    assert isinstance(backend, MilvusBackend)
    client = backend.connection.client
    assert not [c for c in client.list_collections() if c.startswith("qa_")]  # dropped
    assert counting.passages == 0


def test_restart_reads_vectors_from_milvus_without_uploading_them(
    milvus_collection, embedder, milvus_settings, monkeypatch
):

    def no_upload(*args, **kwargs):
        raise AssertionError("vectors uploaded again on load")

    monkeypatch.setattr(MilvusVectors, "_upsert", no_upload)
    reopened = open_milvus(milvus_settings, CountingEmbedder(embedder))
    assert dense_top(reopened, k=1)[0][0].startswith(HUANG_DOC)
    assert reopened.embedder.passages == 0


def test_a_write_that_fails_to_commit_leaves_milvus_as_it_was(milvus_collection, monkeypatch):
    collection = milvus_collection
    before = collection.index.vectors.count()

    def crash(self, manifest):
        raise OSError("disk gone")

    monkeypatch.setattr(Store, "commit", crash)
    with pytest.raises(OSError):
        collection.upsert([make_text_document("petro.txt", PETRO, "t")])
    assert collection.index.vectors.count() == before
    assert "petro.txt" not in collection.index.documents


def test_rows_left_by_an_interrupted_write_are_never_served_and_repaired_on_load(
    milvus_collection, embedder, milvus_settings, monkeypatch
):
    collection = milvus_collection
    live = collection.index.vectors.count()
    # a crash after the upsert, before the commit: nothing undoes the staged rows
    monkeypatch.setattr(MilvusTransaction, "abort", lambda self: None)
    monkeypatch.setattr(Store, "commit", lambda self, manifest: (_ for _ in ()).throw(OSError()))
    with pytest.raises(OSError):
        collection.upsert([make_text_document("petro.txt", PETRO, "t")])
    monkeypatch.undo()
    assert collection.index.vectors.count() > live  # the rows are in Milvus...
    query = embedder.encode_queries(["Petrobras lucro recorde pré-sal"])[0]
    found = collection.index.vectors.search(query, 50)
    assert all(i < collection.index.vectors.visible_below for i, _ in found)  # ...but hidden
    reader = open_index(milvus_settings.index_dir, backend=make_backend(milvus_settings))
    assert reader.vectors.count() > live  # a reader without the lock repairs nothing
    assert {i for i, _ in reader.search("chunks", query, 50)} <= set(reader.chunks)
    reopened = open_milvus(milvus_settings, embedder)  # a writer's load repairs it
    assert reopened.index.vectors.count() == live == len(reopened.index.chunks)
    # and the next write, which reuses those ids, stores its own vectors under them
    reopened.upsert([make_text_document("vale.txt", VALE, "t")])
    top = dense_top(reopened, "Vale prejuízo minério de ferro", 1)
    assert top[0][0].startswith("vale.txt")
    vectors = reopened.index.vectors
    assert vectors.count() == len(reopened.index.chunks)
    ids = np.fromiter(reopened.index.chunks, dtype=np.int64)
    assert np.allclose(vectors.reconstruct(ids), FaissStyle.rebuild(reopened, ids), atol=1e-6)


class FaissStyle:
    """The same vectors, read from the segment files (the store of record)."""

    @staticmethod
    def rebuild(collection, ids):
        store, by_id = collection.store, {}
        for entry in collection.index.manifest.segments:
            segment = store.read_segment(entry)
            by_id.update(zip(segment.chunk_ids.tolist(), segment.chunk_vectors, strict=True))
        return np.stack([by_id[int(i)] for i in ids])


def test_retired_versions_are_dropped_after_the_grace_or_when_settled(caplog):
    dropped: list[list[int]] = []
    failing = [True]
    done = threading.Event()

    def drop(versions: list[int]) -> None:
        if failing[0]:
            failing[0] = False
            raise RuntimeError("milvus away")
        dropped.append(versions)
        done.set()

    retirer = Retirer(drop, grace=0.05)
    retirer.retire([1, 2])  # its drop fails: logged, the thread goes on
    deadline = time.monotonic() + 5
    while "could not delete" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "could not delete 2 replaced versions" in caplog.text and retirer.pending() == 0
    retirer.retire([3])
    assert retirer.pending() == 1 and not dropped  # not before the grace
    assert done.wait(5) and dropped == [[3]]
    slow = Retirer(dropped.append, grace=3_600)
    slow.retire([4])
    slow.retire([])
    assert slow.pending() == 1
    slow.settle()
    assert dropped[-1] == [4] and slow.pending() == 0
