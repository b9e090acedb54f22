from __future__ import annotations

import json

import numpy as np
import pytest

from qa.core.errors import IndexMismatchError, IndexNotFoundError
from qa.embed.companion import COMPANION
from qa.store import FORMAT_VERSION, Chunking
from qa.store.folder import MANIFEST
from qa.store.manifest import checksum
from qa.store.segments import COMPANION_FILE, SEGMENT_FILES
from tests.helpers import (
    CANTOR_DOC,
    HUANG_DOC,
    ModelStandIn,
    build_index,
    open_index,
    snapshot,
)


def test_manifest_records_model_chunking_counts_and_checksums(
    seed_index, seed_docs, embedder, settings
):
    m = json.loads((settings.index_dir / MANIFEST).read_text())
    assert m["format_version"] == FORMAT_VERSION == 4
    assert m["model"] == {
        "name": embedder.name,
        "dim": 384,
        "backend": embedder.backend,
        "query_prompt": "query: ",
        "passage_prompt": "passage: ",
    }
    assert m["vectors"] == {
        "kind": "faiss",
        "chunks": {"kind": "flat"},
        "sentences": {"kind": "flat"},
    }
    assert m["chunking"] == {"size": 700, "overlap": 150, "unit": "characters"}
    assert m["counts"] == {
        "documents": 2,
        "chunks": len(seed_index.chunks),
        "sentences": len(seed_index.sentences),
    }
    assert m["language"] == "pt"
    assert m["checksum"] == checksum({k: v for k, v in m.items() if k != "checksum"})
    assert [set(s["files"]) for s in m["segments"]] == [{*SEGMENT_FILES, COMPANION_FILE}]
    assert m["companion"] == COMPANION
    assert seed_index.manifest.model_dump(mode="json", exclude_none=True) == {
        k: v for k, v in m.items() if k != "checksum"
    }
    assert {d.doc_id: d.sha256 for d in seed_index.documents.values()} == {
        d.doc_id: d.sha256 for d in seed_docs
    }
    assert sum(d.n_chunks for d in seed_index.documents.values()) == len(seed_index.chunks)


def test_round_trip_reproduces_passages_vectors_and_search(seed_index, settings, embedder):
    loaded = open_index(settings.index_dir, ModelStandIn(embedder.name, embedder.dim))
    assert loaded.chunks == seed_index.chunks
    assert set(loaded.documents) == {HUANG_DOC, CANTOR_DOC}
    for chunk in loaded.chunks.values():
        assert loaded.documents[chunk.doc_id].text[chunk.char_start : chunk.char_end] == chunk.text
    q = embedder.encode_queries(["Paradoxo de Jevons"])[0]
    assert loaded.search("chunks", q, 3) == seed_index.search("chunks", q, 3)
    assert loaded.search_lexical("Paradoxo de Jevons", 3) == seed_index.search_lexical(
        "Paradoxo de Jevons", 3
    )
    # cosine: scores are inner products of unit vectors, of the passage's vector as the
    # model gives it (int8 tolerance: float rounding before a quantisation step varies
    # from one CPU to another)
    row, score = loaded.search("chunks", q, 1)[0]
    p = embedder.encode_passages([loaded.chunks[row].text])[0]
    assert score == pytest.approx(float(p @ q), abs=2e-3)


def test_sentences_are_spans_of_their_passages(seed_index):
    assert seed_index.sentences
    for sid, sentence in seed_index.sentences.items():
        text = seed_index.documents[sentence.doc_id].text[sentence.char_start : sentence.char_end]
        assert text == text.strip() and len(text) >= 20
        for row in sentence.chunks:
            chunk = seed_index.chunks[row]
            assert chunk.doc_id == sentence.doc_id
            assert chunk.char_start <= sentence.char_start < sentence.char_end <= chunk.char_end
            assert sid in seed_index.chunk_sentences[row]
    assert seed_index.sentence_vectors.ntotal == len(seed_index.sentences)


def test_opening_with_another_model_is_a_clear_error(seed_index, settings):
    with pytest.raises(IndexMismatchError, match=r"built with model .* `qa index --index-dir"):
        open_index(settings.index_dir, ModelStandIn("some-other-model", 384))
    name = json.loads((settings.index_dir / MANIFEST).read_text())["model"]["name"]
    with pytest.raises(
        IndexMismatchError, match=r"384-dimensional vectors, the model produces 768"
    ):
        open_index(settings.index_dir, ModelStandIn(name, 768))


def copy_index(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_other_format_version_and_damaged_files_are_refused(seed_index, settings, tmp_path):
    old = copy_index(settings.index_dir, tmp_path / "old")
    manifest = json.loads((old / MANIFEST).read_text())
    manifest["format_version"] = 0
    (old / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match=r"format version 0.*rebuild it with `qa index"):
        open_index(old)

    tampered = copy_index(settings.index_dir, tmp_path / "tampered")
    manifest = json.loads((tampered / MANIFEST).read_text())
    manifest["counts"]["documents"] = 3
    (tampered / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match=r"manifest\.json fails its checksum"):
        open_index(tampered)

    damaged = copy_index(settings.index_dir, tmp_path / "damaged")
    (segment,) = (damaged / "segments").iterdir()
    vectors = segment / "chunks.npy"
    data = bytearray(vectors.read_bytes())
    data[-10] ^= 0xFF
    vectors.write_bytes(bytes(data))
    with pytest.raises(IndexMismatchError, match=r"chunks\.npy fails its checksum"):
        open_index(damaged)


def test_a_version_3_manifest_is_read_and_upgraded(seed_index, settings, tmp_path):
    """Indexes written before the vectors record (format 3: ``ann`` and ``vector_store``)
    still open, and the next write stores them as version 4."""
    old = copy_index(settings.index_dir, tmp_path / "v3")
    body = json.loads((old / MANIFEST).read_text())
    body.pop("checksum")
    vectors = body.pop("vectors")
    body["format_version"] = 3
    body["ann"] = {"chunks": vectors["chunks"], "sentences": vectors["sentences"]}
    body["checksum"] = checksum(body)
    (old / MANIFEST).write_text(json.dumps(body))
    loaded = open_index(old)
    assert loaded.manifest.vectors.kind == "faiss" and loaded.manifest.format_version == 4
    assert loaded.chunks == seed_index.chunks


def test_index_of_the_older_format_asks_for_a_rebuild(tmp_path):
    (tmp_path / "gen-1").mkdir()
    (tmp_path / "CURRENT").write_text("gen-1")
    with pytest.raises(IndexMismatchError, match=r"older format.*qa index"):
        open_index(tmp_path)


def test_missing_index_says_how_to_build_one(tmp_path):
    with pytest.raises(IndexNotFoundError, match=r"no index in .*qa index --source seeds"):
        open_index(tmp_path / "nothing")


class FailingEmbedder:
    """The real model, failing half-way through a build (as a crash or kill would)."""

    def __init__(self, real):
        self.real, self.name, self.dim = real, real.name, real.dim

    def encode_passages(self, texts, progress=False):
        self.real.encode_passages(texts[:2])
        raise RuntimeError("interrupted")


def test_failed_build_leaves_the_live_index_untouched(seed_docs, embedder, tmp_path):
    index_dir = tmp_path / "index"
    build_index(seed_docs, embedder, index_dir)
    before = snapshot(index_dir)
    with pytest.raises(RuntimeError):
        build_index(
            seed_docs[:1], FailingEmbedder(embedder), index_dir, Chunking(size=300, overlap=0)
        )
    assert snapshot(index_dir) == before
    assert open_index(index_dir).manifest.counts.documents == 2


def test_rebuild_replaces_the_segments_and_removes_the_old_ones(seed_docs, embedder, tmp_path):
    index_dir = tmp_path / "index"
    first = build_index(seed_docs, embedder, index_dir)
    old_segments = {s.name for s in first.manifest.segments}
    build_index(seed_docs[:1], embedder, index_dir, Chunking(size=400, overlap=50))
    loaded = open_index(index_dir)
    assert loaded.manifest.chunking.size == 400
    assert list(loaded.documents) == [seed_docs[0].doc_id]
    assert loaded.vectors.ntotal == len(loaded.chunks)
    on_disk = {p.name for p in (index_dir / "segments").iterdir()}
    assert on_disk == {s.name for s in loaded.manifest.segments}
    assert not on_disk & old_segments
    row = next(iter(loaded.chunks))
    assert np.isfinite(loaded.vectors_of("chunks", [row])).all()
