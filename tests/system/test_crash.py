"""SIGKILL during real writes: the index always reopens in the state before or after."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time

from tests.helpers import CANTOR_DOC, HUANG_DOC, open_index

RUNS = 8
WRITER = """
import sys
from pathlib import Path
from qa.core.config import Settings
from qa.ingest import make_text_document
from qa.service import QAService

index_dir, doc_id, path = sys.argv[1:4]
service = QAService.open(Settings(index_dir=Path(index_dir)))
service.embedder  # loaded before "ready": the kill lands in the write
text = Path(path).read_text(encoding="utf-8")
print("ready", flush=True)
service.add([make_text_document(doc_id, text, "crash-test")])
print("done", flush=True)
"""


def large_article(n: int) -> str:
    paragraphs = [
        f"Parágrafo {i} da reportagem {n}: a empresa {i} anunciou investimentos de R$ {i + n} "
        f"milhões em centros de dados no estado, com {10 * i} novos empregos, segundo o relatório "
        "anual divulgado nesta semana pela associação do setor de tecnologia."
        for i in range(40)
    ]
    return f"Reportagem {n}\n\n" + "\n\n".join(paragraphs)


def test_sigkill_during_writes_never_corrupts_or_loses_documents(settings, seed_index, tmp_path):
    index_dir = shutil.copytree(settings.index_dir, tmp_path / "index")
    rng = random.Random(20261124)
    expected = {
        HUANG_DOC: seed_index.documents[HUANG_DOC].text,
        CANTOR_DOC: seed_index.documents[CANTOR_DOC].text,
    }
    outcomes = {"before": 0, "after": 0}
    durations: list[float] = []
    for run in range(RUNS):
        # Alternate new documents and new versions of the last one.
        doc_id = f"big-{run - run % 2}"
        text = large_article(run)
        article = tmp_path / f"article-{run}.txt"
        article.write_text(text, encoding="utf-8")
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(index_dir), doc_id, str(article)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        started = time.monotonic()
        # Kill anywhere in the write: its typical duration, measured as we go, plus margin
        # (the first write runs to its end, so that there is a duration to go by however
        # loaded the machine is).
        if durations:
            time.sleep(rng.uniform(0, max(durations) * 1.2))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=120)
        if proc.returncode == 0:
            durations.append(time.monotonic() - started)

        index = open_index(index_dir)  # checks every checksum
        before = dict(expected)
        after = {**expected, doc_id: text}
        state = {d.doc_id: d.text for d in index.documents.values()}
        assert state in (before, after), f"run {run}: a mix of states"
        outcomes["after" if state == after else "before"] += 1
        expected = state
        assert index.vectors.ntotal == len(index.chunks) == len(index.lexical)
        assert index.manifest.counts.documents == len(state)
        for chunk in index.chunks.values():
            assert state[chunk.doc_id][chunk.char_start : chunk.char_end] == chunk.text
    # Both outcomes happened, so kills landed inside writes as well as after them.
    assert outcomes["before"] and outcomes["after"], outcomes


def test_a_killed_qa_index_continues_from_its_last_commit(settings, tmp_path):
    """`qa index` commits a batch at a time: SIGKILLed after its first commit, run again
    over the same sources it resumes (only the rest is embedded) and ends complete."""
    import json

    from qa.store import Store

    sources = tmp_path / "articles"
    sources.mkdir()
    for n in range(8):
        (sources / f"r{n}.txt").write_text(large_article(n), encoding="utf-8")
    index_dir = tmp_path / "index"
    command = [sys.executable, "-m", "qa.cli", "index", str(sources), "--index-dir", str(index_dir)]
    env = {**os.environ, "QA_INDEX_BATCH_CHARS": "12000"}  # an article a batch
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while proc.poll() is None and not (index_dir / "manifest.json").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = Store(index_dir).document_ids(Store(index_dir).read_manifest())
    assert 0 < len(first) < 8  # a batch was in, not all of them
    assert json.loads((index_dir / ".building.json").read_text())["fingerprint"]

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"resumed an interrupted build: {len(first)} documents were in" in again.stderr
    assert "indexed 8 documents" in again.stdout
    done = open_index(index_dir)
    assert sorted(done.documents) == sorted(f"r{n}.txt" for n in range(8))
    assert not (index_dir / ".building.json").exists()
