"""Stateless replicas over one Milvus (Milvus Lite served on loopback, started and stopped
here): a collection held whole in Milvus answers as the index folder does, every replica
serves every committed write at once, and a write is all of a document or none of it."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pymilvus import MilvusClient
from typer.testing import CliRunner

from qa.cli import app
from qa.collection.milvus import MilvusCollection, catalog_of, replica_mode
from qa.collection.milvus import writer as replica_writer
from qa.collection.milvus.schema import VERSION_STRIDE
from qa.collection.milvus.writer import ROW_KINDS
from qa.core.errors import IngestError, PreconditionFailedError, WouldDropDocumentsError
from qa.ingest import make_text_document
from qa.service import QAService
from qa.testing import free_port, running_milvus, running_server
from tests.helpers import FESTIVAL, FESTIVAL_QUESTION, HUANG_DOC, CountingEmbedder, seconds_until

HUANG = "what did Huang say about investors?"
_names = itertools.count()


@pytest.fixture(scope="module")
def milvus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_milvus(tmp_path_factory.mktemp("milvus")) as uri:
        yield uri


@pytest.fixture
def replica_settings(settings, milvus, tmp_path):
    """Settings of a replica of a collection of its own, with no index folder."""
    return settings.model_copy(
        update={
            "vector_store": "milvus",
            "milvus_uri": milvus,
            "milvus_collection": f"t{os.getpid()}_{next(_names)}",
            "index_dir": tmp_path / "nothing",
        }
    )


@pytest.fixture
def replica(replica_settings, embedder, seed_docs) -> QAService:
    service = QAService(replica_settings, embedder)
    service.build(seed_docs)
    return service


def env_of(settings) -> dict[str, str]:
    return {
        "QA_VECTOR_STORE": "milvus",
        "QA_MILVUS_URI": settings.milvus_uri,
        "QA_MILVUS_COLLECTION": settings.milvus_collection,
        "QA_INDEX_DIR": str(settings.index_dir),
    }


def test_a_server_uri_keeps_the_whole_collection_in_milvus(settings, replica_settings):
    assert replica_mode(replica_settings)
    assert not replica_mode(settings)
    lite_file = replica_settings.model_copy(update={"milvus_uri": "/tmp/x/milvus.db"})
    assert not replica_mode(lite_file)
    assert replica_mode(lite_file.model_copy(update={"milvus_mode": "replica"}))


def test_a_replica_answers_as_the_index_folder_does_from_milvus_alone(replica, service):
    assert not replica.settings.index_dir.exists()  # nothing of it on this machine's disk
    for method in ("dense", "bm25", "hybrid"):
        got = replica.ask(HUANG, 5, method)
        want = service.ask(HUANG, 5, method)
        assert [h.chunk.chunk_id for h in got.result.hits] == [
            h.chunk.chunk_id for h in want.result.hits
        ], method
        for hit in got.result.hits:
            assert hit.document.text[hit.chunk.char_start : hit.chunk.char_end] == hit.chunk.text
            assert hit.document.chunk_ids  # its passages, by the version's ids
    reply = replica.ask(HUANG, 5)
    assert reply.answer is not None and reply.answer.citation.doc_id == HUANG_DOC
    cited = replica.document(HUANG_DOC).text
    citation = reply.answer.citation
    assert cited[citation.char_start : citation.char_end] == reply.answer.text
    assert reply.answer.text == service.ask(HUANG, 5).answer.text
    assert replica.health().documents == 2
    assert replica.health().chunks == service.health().chunks


def test_writes_keep_ids_fresh_skip_unchanged_documents_and_refuse_unknown_ones(replica, seed_docs):
    again = replica.add(seed_docs)
    assert {r.status for r in again} == {"unchanged"}
    before = replica.document(HUANG_DOC)
    huang = next(d for d in seed_docs if d.doc_id == HUANG_DOC)
    retitled = dataclasses.replace(huang, title="Another title")
    (result,) = replica.replace(retitled)
    after = replica.document(HUANG_DOC)
    assert result.status == "updated" and after.title == "Another title"
    assert set(after.chunk_ids).isdisjoint(before.chunk_ids)  # a new version, same vectors
    assert after.n_chunks == before.n_chunks
    hits = replica.ask(HUANG, 3, "dense").result.hits
    assert hits[0].document.title == "Another title"
    with pytest.raises(Exception, match="no document with id"):
        replica.delete(["nope", HUANG_DOC])
    assert replica.health().documents == 2  # all or nothing
    with pytest.raises(WouldDropDocumentsError):
        replica.build([d for d in seed_docs if d.doc_id != HUANG_DOC])


def test_filters_apply_in_milvus_and_deleted_documents_leave_every_row(replica):
    from qa.store import Filters

    only = replica.ask(HUANG, 5, filters=Filters(doc_ids=frozenset({"002_50e6e5fcbdbef445.txt"})))
    assert {h.chunk.doc_id for h in only.result.hits} == {"002_50e6e5fcbdbef445.txt"}
    version = replica.document(HUANG_DOC).chunk_ids[0]
    replica.delete([HUANG_DOC])
    assert HUANG_DOC not in {h.chunk.doc_id for h in replica.ask(HUANG, 10).result.hits}
    catalog = catalog_of(replica.settings)
    for kind in ("passages", "sentences", "texts"):
        assert catalog.count(kind, f"version == {version}") == 0, kind


def test_two_replicas_serve_each_others_writes_within_a_second(replica_settings, tmp_path):
    env = env_of(replica_settings)
    # both start before their collection exists: the first write creates it
    with (
        running_server(tmp_path / "a", **env) as (a, _),
        running_server(tmp_path / "b", **env) as (b, _),
    ):
        assert httpx.get(f"{b}/health").json()["status"] == "no_index"

        def returned(url: str) -> bool:
            r = httpx.post(f"{url}/query", json={**FESTIVAL_QUESTION, "top_k": 10})
            return r.status_code == 200 and "festival" in {
                p["citation"]["doc_id"] for p in r.json()["results"]
            }

        added = httpx.post(f"{a}/documents", json={"id": "festival", "text": FESTIVAL})
        assert added.status_code in (200, 201), added.text
        took = seconds_until(lambda: returned(b))
        assert took < 1.0, f"served by the other replica after {took:.2f} s"
        best = httpx.post(f"{b}/query", json=FESTIVAL_QUESTION).json()["results"][0]
        assert best["citation"]["doc_id"] == "festival"

        # If-Match across replicas: a tag read on one and moved on by the other is stale
        tag = httpx.get(f"{b}/documents/festival").headers["ETag"]
        retitled = {"title": "Festival", "text": FESTIVAL}
        moved = httpx.put(f"{a}/documents/festival", json=retitled, headers={"If-Match": tag})
        assert moved.status_code == 200, moved.text
        stale = httpx.put(
            f"{b}/documents/festival", json={"text": FESTIVAL}, headers={"If-Match": tag}
        )
        assert stale.status_code == 412, stale.text
        assert httpx.get(f"{b}/documents/festival").json()["title"] == "Festival"

        # queries keep flowing on both while one deletes: never returned afterwards
        deleted = threading.Event()
        late: list[str] = []
        stop = threading.Event()

        def ask(url: str) -> None:
            while not stop.is_set():
                was_deleted = deleted.is_set()
                if returned(url) and was_deleted:
                    late.append(url)

        readers = [threading.Thread(target=ask, args=(u,)) for u in (a, b)]
        for reader in readers:
            reader.start()
        try:
            time.sleep(0.3)
            assert httpx.delete(f"{a}/documents/festival").status_code in (200, 204)
            deleted.set()
            time.sleep(1.0)
        finally:
            stop.set()
            for reader in readers:
                reader.join()
        assert not late
        assert not returned(a) and not returned(b)


def test_a_conditional_write_refused_at_its_commit_leaves_nothing_behind(replica, replica_settings):
    """If-Match is checked again on the heads read just before the commit: a document
    that moved on since the first check is not overwritten, and the rows written for the
    refused version are deleted."""
    seen: list[str] = []

    def moved_on_meanwhile(documents) -> None:
        seen.append(documents[HUANG_DOC].etag)
        if len(seen) == 2:  # the check at the commit
            raise PreconditionFailedError("moved on")

    catalog = catalog_of(replica_settings)
    before = catalog.heads([HUANG_DOC])[HUANG_DOC]
    stored = replica.document(HUANG_DOC)
    changed = make_text_document(HUANG_DOC, stored.text + " Mais uma frase.", stored.source)
    with pytest.raises(PreconditionFailedError):
        replica.collection.replace(changed, moved_on_meanwhile)
    assert len(seen) == 2 and catalog.heads([HUANG_DOC])[HUANG_DOC] == before
    for kind in ("texts", "sentences", "passages"):
        kept = f"doc_id == {json.dumps(HUANG_DOC)} and version != {before['version']}"
        assert catalog.count(kind, kept) == 0, kind


def test_a_replica_killed_during_a_write_leaves_no_partial_document(
    replica_settings, embedder, tmp_path, monkeypatch
):
    sources = tmp_path / "articles"
    sources.mkdir()
    for n in range(3):
        (sources / f"festival{n}.txt").write_text(f"{FESTIVAL}\n\nEdição {n}. " * 6)
    QAService(replica_settings, embedder).add([make_text_document("seed.txt", FESTIVAL, "seed")])
    client = MilvusClient(uri=replica_settings.milvus_uri)
    passages = f"{replica_settings.milvus_collection}_passages"
    writer = subprocess.Popen(
        [sys.executable, "-m", "qa.cli", "add", str(sources)],
        env={**os.environ, **env_of(replica_settings)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # kill it once its passages are written, before their documents' heads are
        deadline = time.monotonic() + 120
        while not client.query(passages, filter='doc_id like "festival%"', limit=1):
            assert writer.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        writer.send_signal(signal.SIGKILL)
    finally:
        writer.wait()
    replica = QAService.open(replica_settings, embedder)
    catalog = catalog_of(replica_settings)
    heads = catalog.heads([f"festival{n}.txt" for n in range(3)])
    assert not heads, "the write committed before it was killed: nothing was tested"
    assert catalog.count("passages", 'doc_id like "festival%"') > 0  # rows no head names
    listed = {d.doc_id for d in replica.documents()}
    assert listed == {"seed.txt"}
    hits = replica.ask(FESTIVAL_QUESTION["question"], 10).result.hits
    assert {h.chunk.doc_id for h in hits} == {"seed.txt"}

    # the next write of those documents removes what the dead one left
    monkeypatch.setattr(replica_writer, "STALE", -1)
    docs = [make_text_document(p.name, p.read_text(), p.name) for p in sorted(sources.iterdir())]
    replica.add(docs)
    for doc in docs:
        stored = replica.document(doc.doc_id)
        rows = catalog.count("passages", f'doc_id == "{doc.doc_id}"')
        assert rows == stored.n_chunks


def test_an_existing_collection_is_opened_not_created_again(replica, embedder):
    collection = MilvusCollection.open(catalog_of(replica.settings), embedder)
    assert collection.manifest.language == "pt"
    with collection.snapshot() as view:
        assert len(view.documents) == 2
        assert HUANG_DOC in view.documents and "nope" not in view.documents


def test_no_collection_yet_is_a_clear_error(replica_settings, embedder):
    from qa.core.errors import IndexNotFoundError

    with pytest.raises(IndexNotFoundError, match="no collection"):
        QAService.open(replica_settings, embedder)
    assert not Path(replica_settings.index_dir).exists()


def test_an_index_folder_moves_into_milvus_without_embedding(
    settings, seed_index, replica_settings, embedder, service
):
    counting = CountingEmbedder(embedder)
    from_folder = replica_settings.model_copy(update={"index_dir": settings.index_dir})
    folder = QAService.open(from_folder, counting, writable=False, follow_index=True)
    copied = folder.migrate("milvus")
    assert counting.passages == 0
    assert copied.counts.documents == 2
    replica = QAService.open(replica_settings, embedder)
    assert {d.doc_id: d.n_chunks for d in replica.documents()} == {
        d.doc_id: d.n_chunks for d in service.documents()
    }
    for method in ("dense", "bm25"):
        got = [h.chunk.chunk_id for h in replica.ask(HUANG, 5, method).result.hits]
        assert got == [h.chunk.chunk_id for h in service.ask(HUANG, 5, method).result.hits]
    assert replica.ask(HUANG, 5).answer.text == service.ask(HUANG, 5).answer.text
    with pytest.raises(Exception, match="exists already"):
        folder.migrate("milvus")


def test_replicas_come_back_when_milvus_restarts(settings, embedder, seed_docs, tmp_path):
    """Milvus is stopped under load and started again on its data, its collections
    released: meanwhile the replica is not ready and its queries are 503 (never a 500,
    never the server's address); within 60 s of Milvus's return it is ready and answers
    again, and a replica started afterwards starts and answers."""
    data, port = tmp_path / "milvus", free_port()
    statuses: list[int] = []
    stop = threading.Event()

    def load(url: str) -> None:
        while not stop.is_set():
            asked = httpx.post(f"{url}/query", json={"question": HUANG}, timeout=90)
            statuses.append(asked.status_code)

    with contextlib.ExitStack() as replicas:
        with running_milvus(data, port=port) as uri:
            own = settings.model_copy(
                update={"vector_store": "milvus", "milvus_uri": uri,
                        "milvus_collection": "restart", "index_dir": tmp_path / "nothing"}
            )  # fmt: skip
            QAService(own, embedder).build(seed_docs)
            before, _ = replicas.enter_context(running_server(tmp_path / "a", **env_of(own)))
            assert httpx.post(f"{before}/query", json={"question": HUANG}).status_code == 200
            asking = threading.Thread(target=load, args=(before,))
            asking.start()
            replicas.callback(asking.join)
            replicas.callback(stop.set)
            seconds_until(lambda: len(statuses) >= 3, limit=30)
        assert httpx.get(f"{before}/health/ready", timeout=90).status_code == 503
        away = httpx.post(f"{before}/query", json={"question": HUANG}, timeout=90)
        assert away.status_code == 503 and uri not in away.text, away.text
        with running_milvus(data, port=port):  # back on the same data, collections released

            def answers() -> bool:
                ready = httpx.get(f"{before}/health/ready", timeout=30).status_code == 200
                asked = httpx.post(f"{before}/query", json={"question": HUANG}, timeout=30)
                assert uri not in asked.text  # a 503 names the setting, not the address
                return ready and asked.status_code == 200

            seconds_until(answers, limit=60)
            stop.set()
            asking.join()
            assert set(statuses) <= {200, 503} and statuses[-1] == 200, statuses
            with running_server(tmp_path / "b", **env_of(own)) as (after, _):
                assert httpx.get(f"{after}/health/ready", timeout=30).status_code == 200
                reply = httpx.post(f"{after}/query", json={"question": HUANG}, timeout=30)
                assert reply.status_code == 200 and reply.json()["results"], reply.text


def test_a_replica_reads_whole_documents_while_another_rewrites_them(replica_settings, tmp_path):
    """One replica replaces a document in a loop while the other answers questions about
    it for 30 s: every answer is 200 and whole (the replaced version's sentences and texts
    stay readable a while), and when the writer stops, nothing of a replaced version is
    left in Milvus."""
    env = env_of(replica_settings)
    versions = [FESTIVAL, FESTIVAL.replace("festival", "festival de inverno")]
    writes: list[int] = []
    with (
        running_server(tmp_path / "a", **env) as (a, _),
        running_server(tmp_path / "b", **env) as (b, _),
    ):
        added = httpx.post(f"{a}/documents", json={"id": "race", "text": FESTIVAL})
        assert added.status_code == 201
        stop = threading.Event()

        def rewrite() -> None:
            while not stop.is_set():
                text = versions[len(writes) % 2]
                put = httpx.put(f"{a}/documents/race", json={"text": text}, timeout=60)
                writes.append(put.status_code)

        writer = threading.Thread(target=rewrite)
        writer.start()
        statuses: list[int] = []
        try:
            # 30 s, and on a slow machine as long as 20 rewrites and 50 queries take
            started, enough = time.monotonic(), lambda: len(writes) >= 20 and len(statuses) >= 50
            while writer.is_alive() and (time.monotonic() - started < 30 or not enough()):
                r = httpx.post(f"{b}/query", json={**FESTIVAL_QUESTION, "top_k": 10}, timeout=60)
                statuses.append(r.status_code)
                assert r.status_code == 200, r.text
                assert r.json()["results"][0]["citation"]["doc_id"] == "race"
        finally:
            stop.set()
            writer.join()
        assert len(statuses) >= 50 and len(writes) >= 20 and set(writes) == {200}, writes
    catalog = catalog_of(replica_settings)  # the writer has stopped: what it kept is gone
    (head,) = catalog.heads(["race"]).values()
    for kind in ("texts", "sentences", "passages"):
        assert catalog.count(kind, f'doc_id == "race" and version != {head["version"]}') == 0


_any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    doc_id=st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=12)
    .map(lambda s: s.replace("/", "").replace("\\", "").strip())
    .filter(lambda s: s not in ("", ".", "..")),
    title=_any_text,
    source=_any_text,
    metadata=st.dictionaries(_any_text, _any_text | st.integers() | st.booleans(), max_size=3),
    text=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300).filter(
        lambda t: any(c.isalnum() for c in t)
    ),
)
@example(  # an id with both quote characters (a filter Milvus once misread)
    doc_id="a\"'b", title="", source="", metadata={}, text="Um artigo."
)
def test_every_stored_field_round_trips_through_milvus(
    replica_settings, embedder, doc_id, title, source, metadata, text
):
    """Whatever a field holds (the whole Unicode range, line separators, 64-bit integers),
    a document written to Milvus reads back the same from a replica opened afresh."""
    try:
        doc = make_text_document(doc_id, text, source, title or None, "2025-01-31", metadata)
    except IngestError:
        return  # refused as on every path (tests/unit/test_robustness.py)
    if not doc.segments:
        return
    QAService(replica_settings, embedder).add([doc])
    fresh = QAService(replica_settings, embedder)
    fresh.collection = fresh.open_collection(writable=False)
    stored = fresh.document(doc.doc_id)
    assert (stored.text, stored.source, stored.metadata) == (text, source, metadata)
    assert (stored.title, stored.published) == (doc.title, "2025-01-31")
    with fresh.snapshot() as view:  # the passages slice the text exactly
        for cid in stored.chunk_ids:
            chunk = view.chunks[cid]
            assert text[chunk.char_start : chunk.char_end] == chunk.text


def test_an_index_folder_with_its_vectors_in_milvus_comes_back_when_milvus_restarts(
    settings, embedder, seed_docs, tmp_path
):
    """The same for an index folder that keeps only its vectors in Milvus (vectors mode)."""
    data, port, folder = tmp_path / "milvus", free_port(), tmp_path / "index"
    with contextlib.ExitStack() as servers:
        with running_milvus(data, port=port) as uri:
            own = settings.model_copy(
                update={"vector_store": "milvus", "milvus_uri": uri, "milvus_mode": "vectors",
                        "milvus_collection": "folder", "index_dir": folder}
            )  # fmt: skip
            QAService(own, embedder).build(seed_docs)
            env = {**env_of(own), "QA_MILVUS_MODE": "vectors"}
            served, _ = servers.enter_context(running_server(folder, **env))
            assert httpx.post(f"{served}/query", json={"question": HUANG}).status_code == 200
        with running_milvus(data, port=port):  # back on the same data, collections released

            def answers() -> bool:
                ready = httpx.get(f"{served}/health/ready", timeout=30).status_code == 200
                asked = httpx.post(f"{served}/query", json={"question": HUANG}, timeout=30)
                assert asked.status_code in (200, 503), asked.text  # never a 500
                return ready and asked.status_code == 200

            seconds_until(answers, limit=30)


def test_qa_check_finds_a_damaged_document_and_old_leftovers_and_repair_drops_them(
    replica, replica_settings, monkeypatch
):
    """`qa check` on a collection held in Milvus: sound, then a passage whose text is not
    its document's slice and the rows of a write that died an hour ago are found; --repair
    deletes that document and those rows and names the document; the rest still answers."""
    for name, value in env_of(replica_settings).items():
        monkeypatch.setenv(name, value)
    sound = CliRunner().invoke(app, ["check"])
    assert sound.exit_code == 0 and "no problem found" in sound.output, sound.output
    assert "2 documents" in sound.output
    catalog = catalog_of(replica_settings)
    (huang,) = catalog.heads([HUANG_DOC]).values()
    version = int(huang["version"])
    (row,) = catalog.get("passages", [version], ["*"])
    row = {k: v for k, v in row.items() if k != "lexical"}  # made by Milvus from "terms"
    catalog.upsert("passages", [{**row, "text": row["text"].upper()}])
    left = int(time.time()) - replica_writer.STALE - 60
    orphan = 7 * VERSION_STRIDE
    catalog.insert(
        "texts",
        [{"key": f"{orphan}.0", "vector": [0.0, 0.0], "doc_id": "gone", "version": orphan,
          "written": left, "text": "Sobrou."}],
    )  # fmt: skip
    catalog.flush(["passages", "texts"])
    found = CliRunner().invoke(app, ["check"])
    assert found.exit_code == 1, found.output
    assert f"document {HUANG_DOC!r}: passage 0 is not the text at" in found.output
    assert "1 versions' rows that no document names" in found.output
    repaired = CliRunner().invoke(app, ["check", "--repair"])
    assert repaired.exit_code == 0, repaired.output
    assert f"dropped 1 damaged documents: {HUANG_DOC}" in repaired.output
    assert "deleted the rows of 1 versions" in repaired.output
    again = CliRunner().invoke(app, ["check"])
    assert again.exit_code == 0 and "1 documents" in again.output, again.output
    assert catalog.count("texts", f"version in [{orphan}, {version}]") == 0
    hits = replica.ask(HUANG, 3).result.hits
    assert hits and {h.chunk.doc_id for h in hits} != {HUANG_DOC}


def test_a_serving_replica_keeps_a_replaced_versions_sentences_and_texts_a_while(
    replica, replica_settings, monkeypatch
):
    """Its passages go with the commit; its sentences and texts stay readable (however old
    the version, for a query that read it) until the retirer's grace is over or the
    service stops."""
    monkeypatch.setattr(replica_writer, "STALE", -1)  # every row counts as old
    replica.serving = True
    catalog = catalog_of(replica_settings)
    old = int(catalog.heads([HUANG_DOC])[HUANG_DOC]["version"])
    stored = replica.document(HUANG_DOC)
    replica.add([make_text_document(HUANG_DOC, stored.text + " Mais.", stored.source)])
    assert replica.collection.retirer is not None and replica.collection.retirer.pending() == 1
    rows = {kind: catalog.count(kind, f"version == {old}") for kind in ROW_KINDS}
    assert rows["passages"] == 0 and rows["texts"] > 0 and rows["sentences"] > 0, rows
    replica.close()
    assert sum(catalog.count(kind, f"version == {old}") for kind in ROW_KINDS) == 0
