from __future__ import annotations

import json

import httpx
import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.testing import running_server

from .conftest import HUANG_DOC, SEEDS, original_text, snapshot

runner = CliRunner()


@pytest.fixture
def reuse_model(monkeypatch, embedder):
    """Commands load the model once per process; share the session's copy of the real model."""
    monkeypatch.setattr("qa.service.load_embedder", lambda settings: embedder)
    monkeypatch.setattr("qa.embed.load_embedder", lambda settings: embedder)


def one_line_error(result) -> str:
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_index_then_ask(tmp_path, reuse_model):
    index_dir = tmp_path / "index"
    result = runner.invoke(app, ["index", "--source", str(SEEDS), "--index-dir", str(index_dir)])
    assert result.exit_code == 0, result.output
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
    text = runner.invoke(app, ["ask", "Jevons", "--index-dir", str(index_dir)])
    assert text.exit_code == 0 and text.stdout.startswith("1. [")


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
        str(empty): "no .txt, .md or .jsonl files",
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


def test_serve_answers_over_real_http(settings, seed_index):
    """`qa serve` in its own process: model and index load at start-up, then plain HTTP."""
    with running_server(settings.index_dir) as (base, _):
        response = httpx.post(
            base + "/query", json={"question": "what did Huang say about investors?"}, timeout=30
        )
        best = response.json()["results"][0]
        c = best["citation"]
        assert c["doc_id"] == HUANG_DOC
        assert original_text(HUANG_DOC)[c["char_start"] : c["char_end"]] == best["text"]
