"""`qa add --workers`: embedding and writing on a local Ray cluster of two workers, into
the Milvus collection replicas serve."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from qa.service import QAService
from qa.testing import running_milvus
from tests.helpers import HUANG_DOC, HUANG_SAYS, SEEDS, original_text


def test_two_workers_write_one_collection_a_replica_serves(settings, tmp_path) -> None:
    records = tmp_path / "articles.jsonl"
    rows = [{"id": p.name, "text": original_text(p.name)} for p in sorted(SEEDS.iterdir())]
    rows += [
        {
            "id": f"nota-{n}",
            "text": f"Nota {n}\n\nA cooperativa {n} de Campinas colheu {100 + n} toneladas de "
            f"café nesta safra, segundo a associação dos produtores da região número {n}.",
        }
        for n in range(10)
    ]
    records.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")
    with running_milvus(tmp_path / "milvus") as uri:
        env = {
            **os.environ,
            "QA_VECTOR_STORE": "milvus",
            "QA_MILVUS_URI": uri,
            "QA_MILVUS_COLLECTION": "cluster",
            "QA_INDEX_DIR": str(tmp_path / "index"),
            "QA_INDEX_BATCH_CHARS": "2000",  # a batch of a few articles: many batches
        }
        command = [sys.executable, "-m", "qa.cli", "add", str(records), "--workers", "2"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        batches = re.search(r"written by 2 workers \((.*)\)", done.stderr)
        assert batches, done.stderr[-2000:]
        per_worker = [int(n) for n in re.findall(r": (\d+) batches", batches.group(1))]
        assert len(per_worker) == 2 and min(per_worker) >= 1  # both wrote
        assert f"{len(rows)} documents into a new index" in done.stdout

        replica = QAService(
            settings.model_copy(
                update={
                    "vector_store": "milvus",
                    "milvus_uri": uri,
                    "milvus_collection": "cluster",
                    "index_dir": tmp_path / "index",
                }
            )
        )
        replica.collection = replica.open_collection(writable=False)
        assert sorted(d.doc_id for d in replica.documents()) == sorted(r["id"] for r in rows)
        reply = replica.ask("what did Huang say about investors?", 3)
        assert reply.answer is not None and reply.answer.citation.doc_id == HUANG_DOC
        c = reply.answer.citation
        assert original_text(HUANG_DOC)[c.char_start : c.char_end] == reply.answer.text
        said = reply.answer.text  # one of his sentences on the investors' reaction
        assert any(words in said for words in HUANG_SAYS) or "equívocos" in said, said

        again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        assert again.returncode == 0, again.stderr[-3000:]
        assert again.stdout.count("unchanged") == len(rows)  # nothing embedded twice
