"""Vector index kinds: the IVF, HNSW, PQ and RaBitQ indexes against exact search, the size
policy, switching an index's kind without re-embedding, and saved HNSW graphs."""

from __future__ import annotations

import shutil
from dataclasses import replace
from functools import partial

import numpy as np
import pytest

from qa.collection import FolderCollection
from qa.core.config import Settings
from qa.ingest import make_text_document
from qa.search import DenseRetriever, search
from qa.vectors import VectorStore
from qa.vectors.faiss import backend as backend_module
from qa.vectors.faiss import codes as codes_module
from qa.vectors.faiss import index as index_module
from qa.vectors.faiss.index import make_index, train_centroids
from qa.vectors.faiss.spec import (
    CANDIDATES,
    CODE_KINDS,
    AnnPolicy,
    AnnSpec,
    default_nlist,
    same_structure,
)
from tests.helpers import HUANG_DOC, PETRO, CountingEmbedder, faiss_backend, open_index


def policy(mode: str = "auto", **changes: int) -> AnnPolicy:
    """The settings' policy with ``mode`` and ``changes``."""
    return replace(AnnPolicy.from_settings(Settings()), mode=mode, **changes)


def choose_spec(n: int, current: AnnSpec, mode: str = "auto", **changes: int) -> AnnSpec:
    return policy(mode, **changes).spec(n, current)


def vectors_record(collection: FolderCollection, which: str = "chunks") -> dict:
    """The FAISS record of ``which`` in the collection's manifest."""
    return collection.index.manifest.vectors.state()[which]


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
    flat = make_index(64, AnnSpec(kind="flat"))
    ivf = make_index(
        64, AnnSpec(kind="ivf", nlist=len(centroids), nprobe=8, trained_on=6000), centroids
    )
    for index in (flat, ivf):
        index.add_vectors(ids, vectors)
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
    ivf = make_index(
        64, AnnSpec(kind="ivf", nlist=len(centroids), nprobe=8, trained_on=6000), centroids
    )
    ivf.add_vectors(ids, vectors)
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
    flat = AnnSpec(kind="flat")
    assert choose_spec(100, flat) == flat
    assert choose_spec(50_000, flat, flat_max=50_000) == flat
    # auto: codes above flat_max, back to exact below half of it
    codes = choose_spec(60_000, flat, flat_max=50_000, candidates=700)
    assert codes == AnnSpec(kind="pq", candidates=700)
    assert choose_spec(30_000, codes, flat_max=50_000, candidates=700) == codes
    assert choose_spec(24_000, codes, flat_max=50_000) == flat
    graph = choose_spec(60_000, flat, mode="hnsw", ef_search=300, m=24)
    assert (graph.kind, graph.m, graph.ef_search) == ("hnsw", 24, 300)
    assert choose_spec(30_000, graph, flat_max=50_000, candidates=700) == codes
    # a new ef_search keeps the graph; a new m rebuilds it
    assert same_structure(graph, choose_spec(10**6, graph, mode="hnsw", ef_search=64, m=24))
    assert not same_structure(graph, choose_spec(10**6, graph, mode="hnsw", m=16))
    ivf = choose_spec(60_000, flat, mode="ivf", nprobe=16)
    assert (ivf.kind, ivf.nlist, ivf.nprobe, ivf.trained_on) == ("ivf", 1024, 16, 60_000)
    # keeps its centroids while the index grows less than fourfold
    assert choose_spec(200_000, ivf, mode="ivf", nprobe=16) == ivf
    assert choose_spec(240_001, ivf, mode="ivf", nprobe=16).trained_on == 240_001
    assert choose_spec(10**7, ivf, mode="flat") == flat
    assert AnnSpec.model_validate(graph.record()) == graph
    codes = choose_spec(10**6, flat, mode="rabitq", candidates=500)
    assert (codes.kind, codes.candidates) == ("rabitq", 500)
    assert AnnSpec.model_validate(codes.record()) == codes
    # the number of candidates is a search-time knob: the codes stay; 0 is the default
    assert same_structure(codes, choose_spec(10**6, codes, mode="rabitq", candidates=50))
    assert choose_spec(10**6, flat, mode="rabitq").candidates == CANDIDATES["rabitq"]
    assert choose_spec(10**6, flat).candidates == CANDIDATES["pq"]
    assert not same_structure(codes, choose_spec(10**6, codes, mode="pq", candidates=500))
    assert default_nlist(1_000_000) == 4096
    with pytest.raises(ValueError, match="unknown vector index kind"):
        choose_spec(10, flat, mode="lsh")


QUESTION = "O que Huang disse sobre os investidores?"


def dense_top(embedder, index, text: str = QUESTION, k: int = 5) -> list[str]:
    """Chunk ids of the dense ranking's ``k`` best passages for ``text``."""
    return [h.chunk.chunk_id for h in search(DenseRetriever(embedder), index, text, k).hits]


def recall(index: VectorStore, exact: VectorStore, queries: np.ndarray) -> float:
    found = [
        len({i for i, _ in exact.search(q, 10)} & {i for i, _ in index.search(q, 10)}) / 10
        for q in queries
    ]
    return float(np.mean(found))


def test_hnsw_recall_tombstones_filters_and_saved_graph(data):
    vectors, ids, flat, _ = data
    spec = AnnSpec(kind="hnsw", m=16, ef_search=64, ef_construction=40)
    hnsw = make_index(64, spec)
    hnsw.add_vectors(ids, vectors)
    queries = clustered(50, seed=1)
    assert recall(hnsw, flat, queries) >= 0.95
    i, score = hnsw.search(queries[0], 1)[0]
    assert score == pytest.approx(float(vectors[i - 1000] @ queries[0]), abs=1e-5)
    assert np.allclose(hnsw.reconstruct(ids[[5, 77]]), vectors[[5, 77]])

    # removal leaves tombstones that no search returns
    query = vectors[10]
    assert hnsw.search(query, 1)[0][0] == ids[10]
    hnsw.remove(ids[10:20])
    assert hnsw.ntotal == len(ids) - 10 and hnsw.faiss.ntotal == len(ids)
    gone = set(ids[10:20].tolist())
    assert not gone & {i for i, _ in hnsw.search(query, 50)}
    # selective filters are exact; wide ones are pushed into the graph walk
    allowed = ids[3000:3040]
    assert [i for i, _ in hnsw.search(query, 5, allowed)] == [
        i for i, _ in flat.search(query, 5, allowed)
    ]
    hnsw.exact_filter_max = 0
    wide = ids[20::3]
    hits = hnsw.search(query, 10, wide)
    assert len(hits) == 10 and {i for i, _ in hits} <= set(wide.tolist())
    hnsw.exact_filter_max = 20_000

    # a saved graph comes back with the same answers; adding what it holds is a no-op,
    # and ``retain`` tombstones what the collection no longer has
    loaded = make_index(64, spec, graph=hnsw.graph_bytes())
    loaded.add_vectors(ids[:100], vectors[:100])
    assert loaded.faiss.ntotal == len(ids)
    loaded.retain(np.setdiff1d(ids, ids[10:20]))
    assert loaded.tombstones == gone and loaded.loaded_ids is None
    for q in queries[:10]:
        assert loaded.search(q, 10) == hnsw.search(q, 10)

    # past MAX_TOMBSTONES of the graph, compaction rebuilds it from the live vectors
    assert hnsw.compacted() is hnsw
    hnsw.remove(ids[:2000])
    fresh = hnsw.compacted()
    assert fresh is not hnsw and not fresh.tombstones
    assert fresh.ntotal == fresh.faiss.ntotal == hnsw.ntotal == len(ids) - 2000
    flat_live = make_index(64, AnnSpec(kind="flat"))
    flat_live.add_vectors(ids[2000:], vectors[2000:])
    assert recall(fresh, flat_live, queries) >= 0.95
    assert recall(hnsw, flat_live, queries) >= 0.95


@pytest.mark.parametrize("kind", CODE_KINDS)
def test_codes_recall_removal_filters_and_rebuild(kind, data, monkeypatch):
    vectors, ids, flat, _ = data
    index = make_index(64, AnnSpec(kind=kind, candidates=200))
    index.add_vectors(ids[:500], vectors[:500])
    assert index.codes is None  # built when first searched (or asked to)
    index.prepare()
    assert index.codes is None  # below CODES_MIN: exact
    index.add_vectors(ids[500:], vectors[500:])  # built from every vector so far
    assert index.codes is not None and index.codes.ntotal == len(ids)
    assert index.codes.rows.tolist() == list(range(len(ids)))
    queries = clustered(50, seed=1)
    assert recall(index, flat, queries) >= 0.95
    # the scores are exact inner products, the ranking is by them
    hits = index.search(queries[0], 10)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    i, score = hits[0]
    assert score == pytest.approx(float(vectors[i - 1000] @ queries[0]), abs=1e-5)
    # with as many candidates as vectors, the answer is exact search's
    index.spec = AnnSpec(kind=kind, candidates=len(ids))
    got, want = index.search(queries[1], 10), flat.search(queries[1], 10)
    assert [i for i, _ in got] == [i for i, _ in want]
    assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)
    index.spec = AnnSpec(kind=kind, candidates=200)

    # removed vectors keep their codes until they pass MAX_TOMBSTONES, but never come back
    query = vectors[10]
    assert index.search(query, 1)[0][0] == ids[10]
    index.remove(ids[10:20])
    assert index.ntotal == len(ids) - 10 and index.codes.ntotal == len(ids)
    assert index.codes.dead(index.vectors.live) == 10
    assert index.codes.rows[20] == 20  # rows never move
    assert not set(ids[10:20].tolist()) & {i for i, _ in index.search(query, 50)}
    # filters are exact, whatever their width
    for allowed in (ids[3000:3040], ids[20::3]):
        assert index.search(query, 5, allowed) == flat.search(query, 5, allowed)
    # fewer than k live candidates: exact search answers
    index.spec = AnnSpec(kind=kind, candidates=10)
    monkeypatch.setattr(index.codes, "rows", np.where(ids < ids[5990], 10, index.codes.rows))
    assert len(index.search(vectors[0], 10)) == 10
    monkeypatch.undo()
    index.spec = AnnSpec(kind=kind, candidates=200)

    # added later: coded at once; past MAX_TOMBSTONES the codes are rebuilt from live vectors
    extra = clustered(10, seed=5)
    index.add_vectors(np.arange(9000, 9010), extra)
    assert index.codes.ntotal == len(ids) + 10
    assert index.search(extra[3], 1)[0][0] == 9003
    index.remove(ids[:2000])
    assert index.codes.ntotal == index.ntotal == len(ids) - 2000 + 10
    assert index.codes.dead(index.vectors.live) == 0
    live = make_index(64, AnnSpec(kind="flat"))
    live.add_vectors(ids[2000:], vectors[2000:])
    live.add_vectors(np.arange(9000, 9010), extra)
    assert recall(index, live, queries) >= 0.95
    assert np.allclose(index.reconstruct(ids[[2005, 2077]]), vectors[[2005, 2077]])
    # removing below CODES_MIN drops the codes: exact again
    index.remove(np.concatenate([ids[2000:], np.arange(9000, 9005)]))
    assert index.codes is None and index.ntotal == 5
    assert [i for i, _ in index.search(extra[7], 1)] == [9007]


@pytest.mark.parametrize("kind", CODE_KINDS)
def test_codes_shards_scanned_in_parallel(kind, data, monkeypatch):
    """Above SHARD_MIN codes per thread, the codes are split into shards scanned (and
    re-scored) on their own threads; the answers are those of one scan."""
    vectors, ids, flat, _ = data
    monkeypatch.setattr(codes_module, "SHARD_MIN", 1500)
    monkeypatch.setattr(codes_module, "SCAN_THREADS", 3)
    index = make_index(64, AnnSpec(kind=kind, candidates=300))
    index.add_vectors(ids, vectors)
    index.prepare()
    assert index.codes is not None
    assert [s.ntotal for s in index.codes.shards] == [2000, 2000, 2000]
    queries = clustered(50, seed=1)
    assert recall(index, flat, queries) >= 0.95
    index.spec = AnnSpec(kind=kind, candidates=len(ids))  # every code re-scored: exact
    for q in queries[:5]:
        got, want = index.search(q, 10), flat.search(q, 10)
        assert [i for i, _ in got] == [i for i, _ in want]
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)
    # a removal across the shards: never returned, later rows shift in every shard
    gone = np.concatenate([ids[1990:2010], ids[3995:4005]])
    index.remove(gone)
    assert index.codes.dead(index.vectors.live) == 30 and index.codes.rows[4010] == 4010
    for q in (vectors[2000], vectors[4000], vectors[5999]):
        hits = index.search(q, 20)
        assert not set(gone.tolist()) & {i for i, _ in hits}
        assert [i for i, _ in hits] == [i for i, _ in flat.search(q, 20, np.setdiff1d(ids, gone))]
    # added vectors join the last shard; past twice the first, every code is redone
    extra = clustered(1000, seed=7)
    index.add_vectors(np.arange(9000, 10_000), extra)
    assert [s.ntotal for s in index.codes.shards] == [2000, 2000, 3000]
    assert index.search(extra[3], 1)[0][0] == 9003
    index.add_vectors(np.arange(10_000, 11_500), clustered(1500, seed=8))
    assert [s.ntotal for s in index.codes.shards] == [2824, 2823, 2823]
    assert index.codes.dead(index.vectors.live) == 0
    assert index.search(extra[5], 1)[0][0] == 9005


def test_collection_switches_kind_without_reembedding(settings, seed_index, embedder, tmp_path):
    shutil.copytree(settings.index_dir, tmp_path / "index")
    counting = CountingEmbedder(embedder)
    top = partial(dense_top, embedder)

    def hits(index, text, k):
        return search(DenseRetriever(embedder), index, text, k).hits

    exact = top(seed_index)
    small = faiss_backend(ann="ivf", ann_nprobe=4)
    collection = FolderCollection.open(tmp_path / "index", small, counting)
    assert collection.index.vectors.spec.kind == "flat"  # nothing written yet
    collection.rebuild_vectors(collection.backend)
    assert counting.passages == 0
    assert vectors_record(collection)["kind"] == vectors_record(collection, "sentences")["kind"]
    assert vectors_record(collection)["kind"] == "ivf"
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
    assert all(h.document.doc_id != HUANG_DOC for h in hits(collection.index, QUESTION, 10))

    # and back to exact: centroid files go, answers stay, nothing is embedded
    embedded = counting.passages
    before = top(collection.index)
    collection.rebuild_vectors(faiss_backend(ann="flat"))
    assert vectors_record(collection) == {"kind": "flat"}
    assert not list((tmp_path / "index" / "ann").iterdir())
    assert top(collection.index) == before == top(open_index(tmp_path / "index"))
    assert counting.passages == embedded


@pytest.mark.parametrize("kind", CODE_KINDS)
def test_collection_codes_built_at_load(
    kind, settings, seed_index, embedder, tmp_path, monkeypatch
):
    """pq and rabitq need no file of their own: the codes are rebuilt from the vectors."""
    monkeypatch.setattr(codes_module, "CODES_MIN", 10)  # the seed index has a few dozen
    shutil.copytree(settings.index_dir, tmp_path / "index")
    counting = CountingEmbedder(embedder)
    top = partial(dense_top, embedder)

    exact = top(seed_index)
    collection = FolderCollection.open(
        tmp_path / "index", faiss_backend(ann=kind, ann_candidates=1000), counting
    )
    collection.rebuild_vectors(collection.backend)
    assert counting.passages == 0
    assert vectors_record(collection) == {"kind": kind, "candidates": 1000}
    assert not (tmp_path / "index" / "ann").exists() or not any(
        (tmp_path / "index" / "ann").iterdir()
    )
    assert collection.index.vectors.codes is not None
    assert top(collection.index) == exact  # every vector a candidate: exact answers
    reopened = open_index(tmp_path / "index")
    assert reopened.vectors.spec == collection.index.vectors.spec
    assert reopened.vectors.codes is not None
    assert reopened.vectors.codes.ntotal == len(seed_index.chunks)
    assert top(reopened) == exact

    collection.upsert([make_text_document("petro.txt", PETRO, "test")])
    assert top(collection.index, "lucro da Petrobras", 1)[0].startswith("petro.txt#")
    collection.delete([HUANG_DOC])
    assert not any(c.startswith(f"{HUANG_DOC}#") for c in top(collection.index, k=20))
    assert not any(c.startswith(f"{HUANG_DOC}#") for c in top(open_index(tmp_path / "index"), k=20))


def test_collection_saves_its_hnsw_graphs(settings, seed_index, embedder, tmp_path, monkeypatch):
    """An hnsw index is saved with the collection and loaded, not rebuilt: writes that
    drift from the saved graph are replayed from the segments on load, and past
    GRAPH_RESAVE the graph is saved again."""
    shutil.copytree(settings.index_dir, tmp_path / "index")
    ann_dir = tmp_path / "index" / "ann"
    counting = CountingEmbedder(embedder)
    top = partial(dense_top, embedder)

    exact = top(seed_index)
    backend = faiss_backend(ann="hnsw", ann_ef_search=64, ann_hnsw_m=16)
    collection = FolderCollection.open(tmp_path / "index", backend, counting)
    collection.rebuild_vectors(backend)
    assert counting.passages == 0
    record = vectors_record(collection)
    assert record["kind"] == "hnsw" and record["m"] == 16
    assert record["graph"]["vectors"] == len(seed_index.chunks)
    saved = sorted(p.name for p in ann_dir.iterdir())
    assert len(saved) == 2 and all(name.endswith(".faiss") for name in saved)
    assert top(collection.index) == exact  # a few dozen vectors: the walk sees them all

    # small drift: nothing saved again; a reopened index replays it from the segments
    monkeypatch.setattr(backend_module, "GRAPH_RESAVE", 100.0)
    collection.upsert([make_text_document("petro.txt", PETRO, "test")])
    collection.delete([HUANG_DOC])
    assert sorted(p.name for p in ann_dir.iterdir()) == saved
    live = top(collection.index)
    assert live and not any(c.startswith(f"{HUANG_DOC}#") for c in top(collection.index, k=20))
    reopened = open_index(tmp_path / "index")
    assert reopened.vectors.spec == collection.index.vectors.spec
    assert reopened.vectors.ntotal == len(reopened.chunks)
    assert set(reopened.vectors.tombstones) == set(seed_index.documents[HUANG_DOC].chunk_ids)
    assert top(reopened) == live
    assert top(reopened, "lucro da Petrobras", 1) == top(collection.index, "lucro da Petrobras", 1)

    # past the drift allowance the new state's graph is saved, the old file goes
    monkeypatch.setattr(backend_module, "GRAPH_RESAVE", 0.0)
    collection.upsert([make_text_document("petro2.txt", PETRO + " Segunda versão.", "test")])
    now_saved = sorted(p.name for p in ann_dir.iterdir())
    assert len(now_saved) == 2 and not set(now_saved) & set(saved)
    assert vectors_record(collection)["graph"]["vectors"] == collection.index.vectors.faiss.ntotal
    again = open_index(tmp_path / "index")
    assert again.vectors.loaded_ids is None and again.vectors.ntotal == len(again.chunks)
    assert top(again) == top(collection.index)

    # a new ef_search applies without rebuilding the graph
    collection.backend = faiss_backend(ann="hnsw", ann_ef_search=200, ann_hnsw_m=16)  # a restart
    collection.upsert([make_text_document("petro3.txt", PETRO + " Terceira.", "test")])
    assert collection.index.vectors.spec.ef_search == 200
    assert vectors_record(collection)["ef_search"] == 200

    # tombstones already in the saved graph are not drift: a graph saved with some does
    # not need saving again at the next small write
    monkeypatch.setattr(index_module, "MAX_TOMBSTONES", 1.0)  # keep them in the graph
    collection.delete(["petro.txt"])  # GRAPH_RESAVE 0: saved again, tombstones and all
    record = vectors_record(collection)["graph"]
    tombstones = len(collection.index.vectors.tombstones)
    assert record["tombstones"] == tombstones >= 1
    # one passage more is within the allowance; counting the tombstones again is not
    monkeypatch.setattr(backend_module, "GRAPH_RESAVE", 1.5 / record["vectors"])
    before = sorted(p.name for p in ann_dir.iterdir())
    collection.upsert([make_text_document("petro4.txt", "Lucro da Petrobras sobe.", "test")])
    assert sorted(p.name for p in ann_dir.iterdir()) == before


def test_codes_with_an_int8_first_pass_return_exact_scores(data, monkeypatch):
    """Past FLOAT32_COPY_MAX vectors the first pass reads an int8 copy (a scale per row);
    the best are re-scored from the float32 vectors, so scores stay exact and recall holds."""
    from qa.vectors.faiss import flat as flat_module

    vectors, ids, flat, _ = data
    monkeypatch.setattr(flat_module, "FLOAT32_COPY_MAX", 1000)
    index = make_index(64, AnnSpec(kind="pq", candidates=300))
    index.add_vectors(ids, vectors)
    index.prepare()
    assert index.resident.dtype == np.int8
    queries = clustered(50, seed=1)
    # the copy's scores are within a rounding step of the exact ones
    rows = np.arange(len(vectors))
    first_pass = index._scores(rows, queries[:3])
    assert first_pass.shape == (len(vectors), 3)
    assert np.abs(first_pass - vectors @ queries[:3].T).max() < 0.01
    assert recall(index, flat, queries) >= 0.95
    hits = index.search(queries[0], 10)
    for i, score in hits:
        assert score == pytest.approx(float(vectors[i - 1000] @ queries[0]), abs=1e-6)
    added = clustered(5, seed=9)
    index.add_vectors(np.arange(9000, 9005), added)  # joins the int8 copy
    assert index.search(added[2], 1)[0][0] == 9002


@pytest.mark.parametrize("kind", ["flat", "pq", "rabitq"])
def test_search_many_answers_each_query_as_search_does(data, kind):
    """Several queries searched at once (the codes scanned once): each gets exact scores,
    and its hits are those of its own search (flat: exactly; codes: each query is
    re-scored on every query's candidates, so it finds at least as good)."""
    vectors, ids, flat, _ = data
    index = make_index(64, AnnSpec(kind=kind, candidates=300)) if kind != "flat" else flat
    if kind != "flat":
        index.add_vectors(ids, vectors)
    queries = clustered(8, seed=4)
    together = index.search_many(queries, 10)
    assert len(together) == len(queries)
    for q, hits in zip(queries, together, strict=True):
        alone = index.search(q, 10)
        assert len(hits) == 10
        for i, score in hits:
            assert score == pytest.approx(float(vectors[i - 1000] @ q), abs=1e-6)
        if kind == "flat":
            assert [i for i, _ in hits] == [i for i, _ in alone]
        else:  # rank by rank at least as close
            assert all(a[1] >= b[1] - 1e-6 for a, b in zip(hits, alone, strict=True))
    allowed = ids[::3]  # a filter applies to every query
    for hits in index.search_many(queries, 5, allowed):
        assert {i for i, _ in hits} <= set(allowed.tolist())
    assert index.search_many(queries[:0], 5) == []
