"""Every process sees every committed write: a running ``qa serve`` serves what ``qa add``,
``qa remove`` and ``qa index`` commit from other processes, without a restart."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from qa.index import Collection, collection
from qa.index.state import Index
from qa.ingest import make_text_document

from .conftest import CANTOR_DOC, HUANG_DOC, faiss_backend
from .server import running_server

ARTICLE = (
    "Festival de inverno\n\n"
    "O festival de inverno de Campos do Jordão recebeu 40 mil visitantes neste fim de semana, "
    "segundo a prefeitura, com concertos de música clássica ao ar livre."
)
QUESTION = {"question": "Quantos visitantes recebeu o festival de inverno?", "answer": False}


def qa(*args: str, index_dir: Path) -> subprocess.CompletedProcess[str]:
    """The ``qa`` command in a process of its own."""
    env = {**os.environ, "QA_INDEX_DIR": str(index_dir)}
    return subprocess.run(
        [sys.executable, "-m", "qa.cli", *args], env=env, capture_output=True, text=True
    )


def seconds_until(check, limit: float = 10.0) -> float:
    """Seconds until ``check()`` holds, polled every 20 ms (fails after ``limit``)."""
    started = time.perf_counter()
    while not check():
        assert time.perf_counter() - started < limit, "the server never saw the change"
        time.sleep(0.02)
    return time.perf_counter() - started


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
    writer = Collection.open(index_dir, faiss_backend(), embedder)
    follower = Collection.open(index_dir, faiss_backend(), embedder)
    loads = []
    real_load = Index.load
    monkeypatch.setattr(
        Index, "load", classmethod(lambda cls, *a, **k: loads.append(1) or real_load(*a, **k))
    )
    writer.upsert([make_text_document("festival", ARTICLE, "t")])
    writer.upsert([make_text_document("festival", ARTICLE + " Mais público.", "t")])
    writer.delete([CANTOR_DOC])
    assert follower.refresh() is True and loads == []  # three writes, applied in place
    assert state(follower.index, embedder) == state(writer.index, embedder)
    assert follower.refresh() is False
    # a write of its own first takes what the other process wrote, in place too
    writer.delete(["festival"])
    follower.upsert([make_text_document("nota", ARTICLE.replace("inverno", "outono"), "t")])
    assert writer.refresh() is True and loads == []
    assert state(follower.index, embedder) == state(writer.index, embedder)

    monkeypatch.setattr(collection, "MAX_SEGMENTS", 1)  # the next write merges the segments
    writer.upsert([make_text_document("outro", ARTICLE.replace("inverno", "verão"), "t")])
    assert len(writer.index.manifest.segments) == 1
    assert follower.refresh() is True and loads == [1]  # a compaction: loaded anew
    assert state(follower.index, embedder) == state(writer.index, embedder)


@pytest.mark.slow
def test_serve_sees_what_other_processes_commit_within_a_second(settings, seed_index, tmp_path):
    index_dir = shutil.copytree(settings.index_dir, tmp_path / "index")
    article = tmp_path / "festival.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    with running_server(index_dir) as (url, _):
        ids = lambda: {  # noqa: E731
            d["doc_id"] for d in httpx.get(f"{url}/documents").json()["documents"]
        }
        before = ids()
        assert before == {HUANG_DOC, CANTOR_DOC}
        # queries keep flowing while the other process writes: every one succeeds, and
        # each sees the documents of one state
        seen: list[set[str]] = []
        failures: list[int] = []
        stop = threading.Event()

        def ask() -> None:
            with httpx.Client(base_url=url, timeout=30) as client:
                while not stop.is_set():
                    r = client.post("/query", json={**QUESTION, "top_k": 10})
                    if r.status_code != 200:
                        failures.append(r.status_code)
                        continue
                    seen.append({p["citation"]["doc_id"] for p in r.json()["results"]})

        reader = threading.Thread(target=ask)
        reader.start()
        try:
            added = qa("add", str(article), index_dir=index_dir)
            assert added.returncode == 0, added.stderr
            took = seconds_until(lambda: "festival.txt" in ids())
            assert took < 1.0, f"seen after {took:.2f} s"
            committed = json.loads((index_dir / "manifest.json").read_text())["generation"]
            assert httpx.get(f"{url}/health").json()["generation"] == committed
            best = httpx.post(f"{url}/query", json=QUESTION).json()["results"][0]
            assert best["citation"]["doc_id"] == "festival.txt"
            removed = qa("remove", "festival.txt", index_dir=index_dir)
            assert removed.returncode == 0, removed.stderr
            took = seconds_until(lambda: "festival.txt" not in ids())
            assert took < 1.0, f"gone after {took:.2f} s"
        finally:
            stop.set()
            reader.join()
        assert not failures
        assert seen and all(s <= {HUANG_DOC, CANTOR_DOC, "festival.txt"} for s in seen)
        after = httpx.post(f"{url}/query", json={**QUESTION, "top_k": 10}).json()["results"]
        assert "festival.txt" not in {p["citation"]["doc_id"] for p in after}

        # an index rebuilt by `qa index` in another process is served too
        only = tmp_path / "only"
        only.mkdir()
        shutil.copy(article, only / "festival.txt")
        rebuilt = qa("index", "--source", str(only), "--replace", index_dir=index_dir)
        assert rebuilt.returncode == 0, rebuilt.stderr
        seconds_until(lambda: ids() == {"festival.txt"})


@pytest.mark.slow
def test_serve_started_before_any_index_serves_the_first_one(settings, seed_index, tmp_path):
    index_dir = tmp_path / "index"
    with running_server(index_dir) as (url, _):
        assert httpx.get(f"{url}/health/ready").status_code == 503
        # the folder (the server made it, for its lock) gets its files, the manifest last:
        # what a first commit looks like
        shutil.copytree(
            settings.index_dir,
            index_dir,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("manifest.json"),
        )
        shutil.copy(settings.index_dir / "manifest.json", tmp_path / "manifest.json")
        os.replace(tmp_path / "manifest.json", index_dir / "manifest.json")
        seconds_until(lambda: httpx.get(f"{url}/health/ready").status_code == 200)
        assert len(httpx.get(f"{url}/documents").json()["documents"]) == 2
