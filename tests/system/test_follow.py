"""Every process sees every committed write: a running ``qa serve`` serves what ``qa add``,
``qa remove`` and ``qa index`` commit from other processes, without a restart."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from qa.service import QAService
from qa.testing import running_server
from tests.helpers import CANTOR_DOC, FESTIVAL, FESTIVAL_QUESTION, HUANG_DOC, seconds_until


def qa(*args: str, index_dir: Path) -> subprocess.CompletedProcess[str]:
    """The ``qa`` command in a process of its own."""
    env = {**os.environ, "QA_INDEX_DIR": str(index_dir)}
    return subprocess.run(
        [sys.executable, "-m", "qa.cli", *args], env=env, capture_output=True, text=True
    )


def test_serve_sees_what_other_processes_commit_within_a_second(settings, seed_index, tmp_path):
    index_dir = shutil.copytree(settings.index_dir, tmp_path / "index")
    article = tmp_path / "festival.txt"
    article.write_text(FESTIVAL, encoding="utf-8")
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
                    r = client.post("/query", json={**FESTIVAL_QUESTION, "top_k": 10})
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
            best = httpx.post(f"{url}/query", json=FESTIVAL_QUESTION).json()["results"][0]
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
        after = httpx.post(f"{url}/query", json={**FESTIVAL_QUESTION, "top_k": 10}).json()[
            "results"
        ]
        assert "festival.txt" not in {p["citation"]["doc_id"] for p in after}

        # an index rebuilt by `qa index` in another process is served too
        only = tmp_path / "only"
        only.mkdir()
        shutil.copy(article, only / "festival.txt")
        rebuilt = qa("index", "--source", str(only), "--replace", index_dir=index_dir)
        assert rebuilt.returncode == 0, rebuilt.stderr
        seconds_until(lambda: ids() == {"festival.txt"})


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


def test_if_match_holds_across_two_servers_on_one_folder(settings, seed_index, tmp_path):
    """Two `qa serve` on one index folder each add one to a counter in a document's
    metadata, reading it and writing it back with If-Match: the check is made under the
    folder's lock on the latest commit, so no increment is lost, though each server reads
    the other's writes only when it writes itself (a stale tag gets 412 and is read
    again)."""
    index_dir = shutil.copytree(settings.index_dir, tmp_path / "index")
    doc = {"text": FESTIVAL, "source": "counter", "metadata": {"n": 0}}
    feed = tmp_path / "counter.jsonl"
    feed.write_text(json.dumps({**doc, "id": "counter"}) + "\n", encoding="utf-8")
    assert qa("add", str(feed), index_dir=index_dir).returncode == 0
    rounds, slow = 6, {"QA_FOLLOW_INTERVAL": "60"}  # each reads its own writes' state
    with running_server(index_dir, **slow) as (a, _), running_server(index_dir, **slow) as (b, _):
        refused: list[int] = []

        def increment(url: str) -> None:
            with httpx.Client(base_url=url, timeout=60) as client:
                done = 0
                while done < rounds:
                    got = client.get("/documents/counter")
                    n = got.json()["metadata"]["n"]
                    put = client.put(
                        "/documents/counter",
                        json={**doc, "metadata": {"n": n + 1}},
                        headers={"If-Match": got.headers["ETag"]},
                    )
                    assert put.status_code in (200, 412), put.text
                    done += put.status_code == 200
                    refused.extend([1] * (put.status_code == 412))

        threads = [threading.Thread(target=increment, args=(url,)) for url in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    reader = QAService.open(settings.model_copy(update={"index_dir": index_dir}), writable=False)
    final = reader.document("counter").metadata["n"]
    assert final == 2 * rounds, f"{final} after {2 * rounds} acknowledged increments"
    assert refused  # the servers did get in each other's way
