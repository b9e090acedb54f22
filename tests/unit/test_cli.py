from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.service import Models
from tests.helpers import HUANG_DOC, SEEDS, one_line_error, original_text, snapshot

runner = CliRunner()


@pytest.fixture
def reuse_model(monkeypatch, embedder, service):
    """Commands load their models once per process; share the session's copies."""
    shared = service.models

    def models(settings, loaded=None):
        return Models(settings, loaded or embedder, shared.translator, shared.companion)

    monkeypatch.setattr("qa.service.service.Models", models)


def test_index_then_ask(tmp_path, reuse_model, monkeypatch):
    """The command's output, answered and not (the threshold decides: the stand-in model's
    answers are not the point here)."""
    monkeypatch.setenv("QA_ANSWER_MIN_CONFIDENCE", "0")
    index_dir = tmp_path / "index"
    result = runner.invoke(app, ["index", str(SEEDS), "--index-dir", str(index_dir)])
    assert result.exit_code == 0, result.output  # a folder as argument, as --source takes it
    assert "indexed 2 documents" in result.stdout
    result = runner.invoke(
        app,
        [
            "ask",
            "what did Huang say about investors?",
            "-k",
            "2",
            "--json",
            "--index-dir",
            str(index_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    best = body["results"][0]
    c = best["citation"]
    assert c["doc_id"] == HUANG_DOC and len(body["results"]) == 2
    assert original_text(HUANG_DOC)[c["char_start"] : c["char_end"]] == best["text"]
    a = body["answer"]
    cited = a["citation"]
    assert original_text(cited["doc_id"])[cited["char_start"] : cited["char_end"]] == a["text"]
    assert a["translation"]["lang"] == "en" and body["language"] == "en"
    text = runner.invoke(
        app, ["ask", "O que é o paradoxo de Jevons?", "--index-dir", str(index_dir)]
    )
    assert text.exit_code == 0
    assert text.stdout.startswith("Answer: ") and "Paradoxo de Jevons" in text.stdout
    assert "\n1. [" in text.stdout
    monkeypatch.setenv("QA_ANSWER_MIN_CONFIDENCE", "1")
    off = runner.invoke(
        app, ["ask", "What is the capital of Australia?", "--index-dir", str(index_dir)]
    )
    assert off.stdout.startswith("The articles don't say.") and "\n1. [" in off.stdout
    bare = runner.invoke(app, ["ask", "Jevons", "--no-answer", "--index-dir", str(index_dir)])
    assert bare.exit_code == 0 and bare.stdout.startswith("1. [")


def test_bad_sources_fail_with_one_line_and_keep_the_index(tmp_path, reuse_model):
    index_dir = tmp_path / "index"
    assert (
        runner.invoke(app, ["index", "-s", str(SEEDS), "--index-dir", str(index_dir)]).exit_code
        == 0
    )
    before = snapshot(index_dir)

    empty = tmp_path / "empty"
    empty.mkdir()
    latin = tmp_path / "latin"
    latin.mkdir()
    (latin / "a.txt").write_bytes("Ação".encode("latin-1"))
    cases = {
        str(tmp_path / "missing"): "no such file or folder",
        str(empty): "no file of a kind this reads",
        str(latin): "not valid UTF-8",
    }
    for source, message in cases.items():
        result = runner.invoke(app, ["index", "-s", source, "--index-dir", str(index_dir)])
        assert message in one_line_error(result)
        assert snapshot(index_dir) == before


def test_ask_without_index_and_bad_question(tmp_path, reuse_model):
    result = runner.invoke(app, ["ask", "hello", "--index-dir", str(tmp_path / "none")])
    assert "qa index --source seeds" in one_line_error(result)
    result = runner.invoke(app, ["ask", "   ", "--index-dir", str(tmp_path)])
    assert "question" in one_line_error(result)


def test_add_list_reindex_migrate_and_remove(tmp_path, reuse_model):
    """The write commands on an index `qa add` creates: each one line per document, the
    index kinds and store changed without re-embedding."""
    index_dir = str(tmp_path / "index")
    note = tmp_path / "nota.md"
    note.write_text("# Nota\n\nA fábrica de chips em Manaus vai dobrar a produção.", "utf-8")
    added = runner.invoke(app, ["add", str(note), str(SEEDS), "--index-dir", index_dir])
    assert added.exit_code == 0, added.output
    assert added.stdout.splitlines()[0].startswith("new       nota.md (1 passages)")
    # a command that writes says which index it wrote to (a new one, here)
    assert f"into a new index in {index_dir}/" in added.stdout.splitlines()[-1]
    table = runner.invoke(app, ["list", "--index-dir", index_dir])
    assert table.stdout.splitlines()[0] == "id\tpassages\ttitle"
    listed = runner.invoke(app, ["list", "--json", "--index-dir", index_dir])
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["doc_id"] for r in rows] == ["nota.md", HUANG_DOC, "002_50e6e5fcbdbef445.txt"]
    assert rows[0]["title"] == "Nota" and rows[0]["chunks"] == 1
    before = snapshot(tmp_path / "index")
    again = runner.invoke(app, ["add", str(note), "--index-dir", index_dir])
    assert again.stdout.startswith("unchanged nota.md")
    assert snapshot(tmp_path / "index") == before

    reindexed = runner.invoke(app, ["reindex", "--ann", "hnsw", "--index-dir", index_dir])
    assert reindexed.exit_code == 0, reindexed.output
    assert reindexed.stdout.startswith("chunks      kind=hnsw")
    bad = runner.invoke(app, ["reindex", "--ann", "lsh", "--index-dir", index_dir])
    assert "--ann must be one of" in one_line_error(bad)
    moved = runner.invoke(app, ["migrate", "--to", "milvus", "--index-dir", index_dir])
    assert moved.exit_code == 0, moved.output
    assert moved.stdout.startswith("moved ") and "from faiss to milvus" in moved.stdout
    again = runner.invoke(app, ["migrate", "--to", "milvus", "--index-dir", index_dir])
    assert "already keeps its vectors in milvus" in one_line_error(again)
    back = runner.invoke(app, ["migrate", "--to", "faiss", "--index-dir", index_dir])
    assert back.exit_code == 0 and "from milvus to faiss" in back.stdout

    missing = runner.invoke(app, ["remove", "nota.md", "nope", "--index-dir", index_dir])
    assert "no document with id 'nope'" in one_line_error(missing)
    removed = runner.invoke(app, ["remove", "nota.md", "--index-dir", index_dir])
    assert removed.stdout == f"deleted nota.md\nfrom {index_dir}/\n"
    best = runner.invoke(app, ["ask", "Jevons", "-k", "1", "--json", "--index-dir", index_dir])
    assert json.loads(best.stdout)["results"][0]["citation"]["doc_id"] != "nota.md"


def test_index_refuses_to_drop_documents_the_sources_do_not_hold(tmp_path, reuse_model):
    index_dir = str(tmp_path / "index")
    note = tmp_path / "nota.md"
    note.write_text("# Nota\n\nA fábrica de chips em Manaus vai dobrar a produção.", "utf-8")
    built = runner.invoke(app, ["index", "--source", str(SEEDS), "--index-dir", index_dir])
    assert built.exit_code == 0, built.output
    assert runner.invoke(app, ["add", str(note), "--index-dir", index_dir]).exit_code == 0
    before = snapshot(tmp_path / "index")
    refused = runner.invoke(app, ["index", "--source", str(SEEDS), "--index-dir", index_dir])
    message = one_line_error(refused)
    assert "holds 1 document(s) the sources do not ('nota.md')" in message
    assert "--replace" in message and "qa add" in message
    assert snapshot(tmp_path / "index") == before
    # the same sources and more: nothing is dropped, so no refusal
    more = runner.invoke(
        app, ["index", "-s", str(SEEDS), "-s", str(note), "--index-dir", index_dir]
    )
    assert more.exit_code == 0, more.output
    replaced = runner.invoke(
        app, ["index", "--source", str(SEEDS), "--replace", "--index-dir", index_dir]
    )
    assert replaced.exit_code == 0, replaced.output
    table = runner.invoke(app, ["list", "--index-dir", index_dir])
    assert table.stdout.splitlines()[0] == "id\tpassages\ttitle"
    listed = runner.invoke(app, ["list", "--json", "--index-dir", index_dir])
    assert "nota.md" not in listed.stdout and HUANG_DOC in listed.stdout


def test_add_skips_bad_jsonl_records_only_when_asked(tmp_path, reuse_model):
    index_dir = tmp_path / "index"
    feed = tmp_path / "feed.jsonl"
    feed.write_text(
        '{"id": "good", "text": "A fábrica de chips de Manaus contrata engenheiros."}\n'
        '{"id": "bad\\u200bid", "text": "Texto."}\n',
        encoding="utf-8",
    )
    refused = runner.invoke(app, ["add", str(feed), "--index-dir", str(index_dir)])
    assert refused.exit_code == 1 and "feed.jsonl:2" in one_line_error(refused)
    assert not (index_dir / "manifest.json").exists()  # nothing was written
    kept = runner.invoke(app, ["add", str(feed), "--skip-invalid", "--index-dir", str(index_dir)])
    assert kept.exit_code == 0, kept.output
    assert "new       good" in kept.stdout and "1 bad records skipped" in kept.stdout
    assert "skipped: " in kept.stderr and "feed.jsonl:2" in kept.stderr
