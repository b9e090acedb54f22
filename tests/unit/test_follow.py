"""Every process sees every committed write: a running ``qa serve`` serves what ``qa add``,
``qa remove`` and ``qa index`` commit from other processes, without a restart."""

from __future__ import annotations

import shutil

from qa.collection import FolderCollection
from qa.collection.folder import collection
from qa.index.state import Index
from qa.ingest import make_text_document
from tests.helpers import CANTOR_DOC, FESTIVAL, faiss_backend


def state(index: Index, embedder) -> tuple[object, ...]:
    """What a reader can tell of an index: its manifest, documents, passages, sentences,
    and what three searches return (scores to 5 decimals: vectors read from a file or from
    memory may differ in the last bit of a float32 product)."""
    query = embedder.encode_queries(["festival de inverno e visitantes"])[0]
    return (
        index.manifest,
        {d: (doc.text, doc.chunk_ids, doc.sentence_ids) for d, doc in index.documents.items()},
        dict(index.chunks),
        dict(index.sentences),
        *(
            [(i, round(s, 5)) for i, s in hits]
            for hits in (
                index.search("chunks", query, 5),
                index.search("sentences", query, 5),
                index.search_lexical("festival de inverno", 5),
            )
        ),
    )


def test_a_follower_applies_other_writes_and_reloads_after_a_compaction(
    settings, seed_index, embedder, tmp_path, monkeypatch
):
    index_dir = shutil.copytree(settings.index_dir, tmp_path / "index")
    writer = FolderCollection.open(index_dir, faiss_backend(), embedder)
    follower = FolderCollection.open(index_dir, faiss_backend(), embedder)
    loads = []
    real_load = Index.load
    monkeypatch.setattr(
        Index, "load", classmethod(lambda cls, *a, **k: loads.append(1) or real_load(*a, **k))
    )
    writer.upsert([make_text_document("festival", FESTIVAL, "t")])
    writer.upsert([make_text_document("festival", FESTIVAL + " Mais público.", "t")])
    writer.delete([CANTOR_DOC])
    assert follower.refresh() is True and loads == []  # three writes, applied in place
    assert state(follower.index, embedder) == state(writer.index, embedder)
    assert follower.refresh() is False
    # a write of its own first takes what the other process wrote, in place too
    writer.delete(["festival"])
    follower.upsert([make_text_document("nota", FESTIVAL.replace("inverno", "outono"), "t")])
    assert writer.refresh() is True and loads == []
    assert state(follower.index, embedder) == state(writer.index, embedder)

    monkeypatch.setattr(collection, "MAX_SEGMENTS", 1)  # the next write merges the segments
    writer.upsert([make_text_document("outro", FESTIVAL.replace("inverno", "verão"), "t")])
    assert len(writer.index.manifest.segments) == 1
    assert follower.refresh() is True and loads == [1]  # a compaction: loaded anew
    assert state(follower.index, embedder) == state(writer.index, embedder)
