"""Writing many documents a batch per commit: progress, resumption, all-or-nothing checks."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from qa.core.errors import WouldDropDocumentsError
from qa.ingest import Document, make_text_document
from qa.service import QAService, bulk
from qa.store import Store
from tests.helpers import StandInEmbedder


def _docs(n: int, prefix: str = "d") -> list[Document]:
    return [
        make_text_document(
            f"{prefix}{i:03}",
            f"Notícia {i}\n\nA empresa {i} anunciou resultados do trimestre {i}. "
            f"O lucro subiu {i} por cento, segundo o relatório número {i}.",
            "test",
        )
        for i in range(n)
    ]


BATCH = len(_docs(1)[0].text) * 4  # about four documents a commit


@pytest.fixture
def fresh(settings, tmp_path) -> QAService:
    batched = {"index_dir": tmp_path / "index", "index_batch_chars": BATCH}
    return QAService(settings.model_copy(update=batched), StandInEmbedder())


def test_batches_hold_at_most_the_characters_asked_unless_one_document_is_longer() -> None:
    docs = _docs(10)
    size = len(docs[0].text) * 3 + 5
    groups = list(bulk.batches(docs, size))
    assert [d for g in groups for d in g] == docs
    assert all(sum(len(d.text) for d in g) <= size for g in groups)
    assert [len(g) for g in bulk.batches(docs, 1)] == [1] * 10


def test_a_build_commits_a_batch_at_a_time_and_says_how_far_it_is(fresh: QAService) -> None:
    docs = _docs(12)
    calls: list[tuple[int, int]] = []
    report = bulk.build(fresh, lambda: iter(docs), progress=lambda *a: calls.append(a))
    assert (report.documents, report.resumed, report.dropped) == (12, 0, 0)
    groups = list(bulk.batches(docs, BATCH))
    assert len(groups) >= 3
    assert calls == [(0, 12), *((len(g), 12) for g in groups)]
    manifest = Store(fresh.settings.index_dir).read_manifest()
    assert manifest.generation >= 3  # one commit per batch (and merges)
    assert sorted(d.doc_id for d in fresh.documents()) == [d.doc_id for d in docs]
    assert not (fresh.settings.index_dir / bulk.MARKER).exists()


def test_detail_shows_each_batchs_embedding_bars(fresh: QAService, monkeypatch) -> None:
    """On a terminal the CLI asks for detail: every batch's embedding shows its own bars
    (a long document moves one); otherwise none does."""
    shown: list[bool] = []
    encode = fresh.models.embedder.encode_passages

    def recording(texts, progress=False):
        shown.append(progress)
        return encode(texts)

    monkeypatch.setattr(fresh.models.embedder, "encode_passages", recording)
    bulk.build(fresh, lambda: iter(_docs(8)), detail=True)
    assert shown and all(shown)
    shown.clear()
    bulk.add(fresh, _docs(4, "e"), bulk.survey(_docs(4, "e")))
    assert shown and not any(shown)


def _interrupted(docs: list[Document], after: int) -> Iterator[Document]:
    for n, doc in enumerate(docs):
        if n == after:
            raise KeyboardInterrupt
        yield doc


def test_an_interrupted_build_resumes_from_its_last_commit(fresh: QAService, tmp_path) -> None:
    docs = _docs(12)
    reads = iter([docs, _interrupted(docs, 9)])  # the survey reads all; the build stops
    with pytest.raises(KeyboardInterrupt):
        bulk.build(fresh, lambda: next(reads))
    assert (fresh.settings.index_dir / bulk.MARKER).exists()
    committed = {d.doc_id for d in fresh.documents()}
    assert 0 < len(committed) < 12

    again = QAService(fresh.settings, StandInEmbedder())
    report = bulk.build(again, lambda: iter(docs))
    assert report.resumed == len(committed)
    model = again.models.embedder
    assert isinstance(model, StandInEmbedder)
    rest = [d for d in docs if d.doc_id not in committed]
    on_its_own = StandInEmbedder()
    alone = QAService(
        fresh.settings.model_copy(update={"index_dir": tmp_path / "rest"}), on_its_own
    )
    bulk.build(alone, lambda: iter(rest))
    assert model.passages == on_its_own.passages > 0  # only the rest was embedded
    assert sorted(d.doc_id for d in again.documents()) == [d.doc_id for d in docs]
    assert not (fresh.settings.index_dir / bulk.MARKER).exists()


def test_a_build_that_would_drop_documents_is_refused_unless_it_resumes_or_replaces(
    fresh: QAService,
) -> None:
    bulk.build(fresh, lambda: iter(_docs(3, "old")))
    new = _docs(3, "new")
    with pytest.raises(WouldDropDocumentsError):
        bulk.build(fresh, lambda: iter(new))
    marker = fresh.settings.index_dir / bulk.MARKER
    marker.write_text('{"fingerprint": "another build"}')  # cut short over other sources
    with pytest.raises(WouldDropDocumentsError):
        bulk.build(fresh, lambda: iter(new))
    assert sorted(d.doc_id for d in fresh.documents())[0] == "old000"  # left as it was
    marker.write_text(json.dumps({"fingerprint": bulk.survey(iter(new)).fingerprint}))
    report = bulk.build(fresh, lambda: iter(new))  # resumes: the old ones go
    assert report.documents == 3 and report.dropped == 3
    assert sorted(d.doc_id for d in fresh.documents()) == ["new000", "new001", "new002"]
    report = bulk.build(fresh, lambda: iter(_docs(2, "x")), replace=True)
    assert sorted(d.doc_id for d in fresh.documents()) == ["x000", "x001"]


def test_qa_add_reads_everything_before_it_writes_anything(fresh: QAService, tmp_path) -> None:
    from typer.testing import CliRunner

    from qa.cli import app

    bulk.build(fresh, lambda: iter(_docs(2)))
    before = Store(fresh.settings.index_dir).read_manifest()
    records = tmp_path / "late-twin.jsonl"
    rows = [{"id": d.doc_id, "text": d.text} for d in [*_docs(5, "n"), _docs(1, "n")[0]]]
    records.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    args = ["add", str(records), "--index-dir", str(fresh.settings.index_dir)]
    result = CliRunner().invoke(app, args, env={"QA_INDEX_BATCH_CHARS": "1"})
    assert result.exit_code == 1 and "'n000' appears twice" in result.output
    assert Store(fresh.settings.index_dir).read_manifest() == before


def test_an_add_commits_a_batch_at_a_time(fresh: QAService) -> None:
    bulk.build(fresh, lambda: iter(_docs(2)))
    calls: list[tuple[int, int]] = []
    found = bulk.survey(iter(_docs(4, "n")))
    fresh.settings = fresh.settings.model_copy(update={"index_batch_chars": 1})  # one each
    results = bulk.add(fresh, iter(_docs(4, "n")), found, lambda *a: calls.append(a))
    assert [r.status for r in results] == ["new"] * 4
    assert calls == [(0, 4), (1, 4), (1, 4), (1, 4), (1, 4)]


def test_workers_write_only_into_a_milvus_server(settings, tmp_path) -> None:
    from typer.testing import CliRunner

    from qa.cli import app

    article = tmp_path / "a.txt"
    article.write_text("Notícia\n\nA empresa anunciou resultados do trimestre.", "utf-8")
    index = ["--index-dir", str(tmp_path / "index")]
    folder = CliRunner().invoke(app, ["add", str(article), "--workers", "2", *index])
    assert folder.exit_code == 1 and "QA_MILVUS_URI=http://" in folder.output
    lite = CliRunner().invoke(
        app,
        ["add", str(article), "--workers", "2", *index],
        env={"QA_VECTOR_STORE": "milvus", "QA_MILVUS_URI": str(tmp_path / "milvus.db")},
    )
    assert lite.exit_code == 1 and "a Milvus Lite file has one writer" in lite.output
    beside = CliRunner().invoke(  # an index folder keeping only its vectors in a server
        app,
        ["add", str(article), "--workers", "2", *index],
        env={
            "QA_VECTOR_STORE": "milvus",
            "QA_MILVUS_URI": "http://127.0.0.1:9",
            "QA_MILVUS_MODE": "vectors",
        },
    )
    assert beside.exit_code == 1 and "held whole in a Milvus server" in beside.output
    alone = CliRunner().invoke(app, ["add", str(article), "--cluster", "auto", *index])
    assert alone.exit_code == 1 and "--cluster needs --workers" in alone.output
    assert not (tmp_path / "index").exists()  # nothing written
