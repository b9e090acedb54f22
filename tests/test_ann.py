"""Vector index kinds: the IVF index against exact search, the size policy, and switching
an index's kind without re-embedding."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from qa.ann import AnnSpec, VectorIndex, choose_spec, default_nlist, train_centroids
from qa.collection import AnnPolicy, Collection, open_index
from qa.ingest import make_text_document
from qa.search import DenseRetriever, search

from .conftest import HUANG_DOC
from .test_collection import PETRO, CountingEmbedder


def clustered(n: int, dim: int = 64, centres: int = 50, seed: int = 0) -> np.ndarray:
    """Unit vectors around 50 fixed centres; ``seed`` draws other points of the same shape."""
    base = np.random.default_rng(0).standard_normal((centres, dim)).astype(np.float32)
    rng = np.random.default_rng(seed + 1)
    x = base[rng.integers(0, centres, n)] + 0.35 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    vectors = clustered(6000)
    ids = np.arange(1000, 7000, dtype=np.int64)  # ids unlike row numbers
    centroids = train_centroids(vectors, 64)
    flat = VectorIndex(64, AnnSpec("flat"))
    ivf = VectorIndex(64, AnnSpec("ivf", len(centroids), 8, 6000), centroids)
    for index in (flat, ivf):
        index.add(ids, vectors)
    return vectors, ids, flat, ivf


def test_ivf_recall_against_exact(data):
    vectors, _, flat, ivf = data
    queries = clustered(50, seed=1)
    recalls = []
    for q in queries:
        exact = {i for i, _ in flat.search(q, 10)}
        approx = {i for i, _ in ivf.search(q, 10)}
        recalls.append(len(exact & approx) / 10)
    assert np.mean(recalls) >= 0.95
    # and the scores are true inner products
    i, score = ivf.search(queries[0], 1)[0]
    assert score == pytest.approx(float(vectors[i - 1000] @ queries[0]), abs=1e-5)


def test_ivf_reconstruct_remove_and_filter(data):
    vectors, ids, flat, _ = data
    centroids = train_centroids(vectors, 64)
    ivf = VectorIndex(64, AnnSpec("ivf", len(centroids), 8, 6000), centroids)
    ivf.add(ids, vectors)
    assert np.allclose(ivf.reconstruct(ids[[5, 77]]), vectors[[5, 77]])
    query = vectors[10]
    assert ivf.search(query, 1)[0][0] == ids[10]
    ivf.remove(ids[10:20])
    assert ivf.ntotal == len(ids) - 10
    assert all(i not in set(ids[10:20].tolist()) for i, _ in ivf.search(query, 50))
    # A selective filter is answered exactly: the same ids as exact search over them.
    allowed = ids[3000:3040]
    got = [i for i, _ in ivf.search(query, 5, allowed)]
    want = [i for i, _ in flat.search(query, 5, allowed)]
    assert got == want
    # An unselective filter is pushed into FAISS: every hit is allowed.
    wide = ids[20::2]
    assert all(i in set(wide.tolist()) for i, _ in ivf.search(query, 10, wide))


def test_choose_spec_policy():
    flat = AnnSpec("flat")
    assert choose_spec(100, flat) == flat
    assert choose_spec(50_000, flat, flat_max=50_000) == flat
    big = choose_spec(60_000, flat, flat_max=50_000, nprobe=16)
    assert (big.kind, big.nlist, big.nprobe, big.trained_on) == ("ivf", 1024, 16, 60_000)
    # keeps its centroids while the index grows less than fourfold, and above half flat_max
    assert choose_spec(200_000, big, flat_max=50_000, nprobe=16) == big
    assert choose_spec(30_000, big, flat_max=50_000, nprobe=16) == big
    assert choose_spec(240_001, big, flat_max=50_000, nprobe=16).trained_on == 240_001
    assert choose_spec(24_000, big, flat_max=50_000, nprobe=16) == flat
    assert choose_spec(10, flat, mode="ivf").kind == "ivf"
    assert choose_spec(10**7, big, mode="flat") == flat
    assert default_nlist(1_000_000) == 4096


def test_collection_switches_kind_without_reembedding(settings, seed_index, embedder, tmp_path):
    shutil.copytree(settings.index_dir, tmp_path / "index")
    counting = CountingEmbedder(embedder)
    question = "O que Huang disse sobre os investidores?"

    def hits(index, text, k):
        return search(DenseRetriever(embedder, index), index, text, k).hits

    def top(index):
        return [h.chunk.chunk_id for h in hits(index, question, 5)]

    exact = top(seed_index)
    small = AnnPolicy(mode="auto", flat_max=5, nprobe=4)
    collection = Collection.open(tmp_path / "index", counting, 700, 150, small)
    assert collection.index.vectors.spec.kind == "flat"  # nothing written yet
    ann = collection.reindex()
    assert counting.passages == 0
    assert ann["chunks"]["kind"] == ann["sentences"]["kind"] == "ivf"
    files = sorted(p.name for p in (tmp_path / "index" / "ann").iterdir())
    assert len(files) == 2
    assert collection.index.vectors.spec.kind == "ivf"
    # few passages, every list probed or the hits filtered exactly: same answers
    assert top(collection.index) == exact
    reopened = open_index(tmp_path / "index")
    assert reopened.vectors.spec == collection.index.vectors.spec
    assert top(reopened) == exact

    # writes keep the ivf index up to date, without retraining
    collection.upsert([make_text_document("petro.txt", PETRO, "test")])
    petro = collection.index.documents["petro.txt"]
    assert counting.passages == len(petro.chunk_ids) + len(petro.sentence_ids)
    assert sorted(p.name for p in (tmp_path / "index" / "ann").iterdir()) == files
    assert hits(collection.index, "lucro da Petrobras", 1)[0].document.doc_id == "petro.txt"
    collection.delete([HUANG_DOC])
    assert all(h.document.doc_id != HUANG_DOC for h in hits(collection.index, question, 10))

    # and back to exact: centroid files go, answers stay, nothing is embedded
    embedded = counting.passages
    collection.ann = AnnPolicy(mode="flat")
    before = top(collection.index)
    ann = collection.reindex()
    assert ann["chunks"] == {"kind": "flat"}
    assert not list((tmp_path / "index" / "ann").iterdir())
    assert top(collection.index) == before == top(open_index(tmp_path / "index"))
    assert counting.passages == embedded
