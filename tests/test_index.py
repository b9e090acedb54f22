from __future__ import annotations

import json

import numpy as np
import pytest

from qa.core.errors import IndexMismatchError, IndexNotFoundError
from qa.index import FORMAT_VERSION, build_index, current_generation, open_index

from .conftest import CANTOR_DOC, HUANG_DOC


def test_manifest_records_model_chunking_hashes_and_counts(seed_index, seed_docs, embedder):
    m = seed_index.manifest
    assert m["format_version"] == FORMAT_VERSION
    assert m["model"] == {
        "name": embedder.name,
        "dim": 384,
        "query_prompt": "query: ",
        "passage_prompt": "passage: ",
    }
    assert m["chunking"]["size"] == 700 and m["chunking"]["overlap"] == 150
    assert m["counts"] == {
        "documents": 2,
        "chunks": len(seed_index.chunks),
        "sentences": len(seed_index.sentences),
    }
    assert m["language"] == "pt"
    hashes = {d["doc_id"]: d["sha256"] for d in m["documents"]}
    assert hashes == {d.doc_id: d.sha256 for d in seed_docs}
    assert sum(d["chunks"] for d in m["documents"]) == len(seed_index.chunks)


def test_round_trip_reproduces_passages_vectors_and_search(seed_index, settings, embedder):
    loaded = open_index(settings.index_dir, embedder.name, embedder.dim)
    assert loaded.chunks == seed_index.chunks
    assert set(loaded.documents) == {HUANG_DOC, CANTOR_DOC}
    for chunk in loaded.chunks:
        assert loaded.documents[chunk.doc_id].text[chunk.char_start : chunk.char_end] == chunk.text
    q = embedder.encode_queries(["Paradoxo de Jevons"])[0]
    assert loaded.search(q, 3) == seed_index.search(q, 3)
    # cosine: scores are inner products of unit vectors
    row, score = loaded.search(q, 1)[0]
    p = embedder.encode_passages([loaded.chunks[row].text])[0]
    assert score == pytest.approx(float(p @ q), abs=1e-4)


def test_sentences_are_spans_of_their_passages(seed_index):
    assert seed_index.sentences
    for i, sentence in enumerate(seed_index.sentences):
        text = seed_index.documents[sentence.doc_id].text[sentence.char_start : sentence.char_end]
        assert text == text.strip() and len(text) >= 20
        for row in sentence.chunks:
            chunk = seed_index.chunks[row]
            assert chunk.doc_id == sentence.doc_id
            assert chunk.char_start <= sentence.char_start < sentence.char_end <= chunk.char_end
            assert i in seed_index.chunk_sentences[row]
    assert seed_index.sentence_vectors.ntotal == len(seed_index.sentences)


def test_opening_with_another_model_is_a_clear_error(seed_index, settings):
    with pytest.raises(IndexMismatchError, match=r"built with model .* `qa index --index-dir"):
        open_index(settings.index_dir, "some-other-model", 384)
    with pytest.raises(IndexMismatchError, match=r"768-dimensional|dim"):
        open_index(settings.index_dir, None, 768)


def copy_index(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_other_format_version_and_damaged_files_are_refused(seed_index, settings, tmp_path):
    old = copy_index(settings.index_dir, tmp_path / "old")
    manifest_path = current_generation(old) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 0
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match=r"format version 0.*rebuild it with `qa index"):
        open_index(old)

    damaged = copy_index(settings.index_dir, tmp_path / "damaged")
    vectors = current_generation(damaged) / "vectors.faiss"
    data = bytearray(vectors.read_bytes())
    data[-10] ^= 0xFF
    vectors.write_bytes(bytes(data))
    with pytest.raises(IndexMismatchError, match=r"vectors\.faiss fails its checksum"):
        open_index(damaged)


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
    first = build_index(seed_docs, embedder, index_dir, 700, 150)
    before = {p.name: p.read_bytes() for p in first.path.iterdir()}
    with pytest.raises(RuntimeError):
        build_index(seed_docs[:1], FailingEmbedder(embedder), index_dir, 300, 0)
    assert current_generation(index_dir) == first.path
    assert {p.name: p.read_bytes() for p in first.path.iterdir()} == before
    assert not [p for p in index_dir.iterdir() if p.name.startswith(".build-")]
    assert open_index(index_dir).manifest["counts"]["documents"] == 2


def test_rebuild_replaces_the_generation_and_removes_the_old_one(seed_docs, embedder, tmp_path):
    index_dir = tmp_path / "index"
    first = build_index(seed_docs, embedder, index_dir, 700, 150)
    second = build_index(seed_docs[:1], embedder, index_dir, 400, 50)
    assert current_generation(index_dir) == second.path != first.path
    assert not first.path.exists()
    loaded = open_index(index_dir)
    assert loaded.manifest["chunking"]["size"] == 400
    assert list(loaded.documents) == [seed_docs[0].doc_id]
    assert loaded.vectors.ntotal == len(loaded.chunks)
    assert np.isfinite(loaded.vectors.reconstruct(0)).all()
