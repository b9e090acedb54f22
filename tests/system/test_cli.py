from __future__ import annotations

import json

import httpx
from typer.testing import CliRunner

from qa.cli import app
from qa.testing import running_server
from tests.helpers import HUANG_DOC, one_line_error, original_text

runner = CliRunner()


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
        # qa ask on the served index asks the server instead of loading the model again
        asked = queries_served(base)
        args = ["ask", "--json", "what did Huang say about investors?"]
        result = runner.invoke(app, [*args, "--index-dir", str(settings.index_dir)])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["results"][0]["citation"]["doc_id"] == HUANG_DOC
        assert queries_served(base) == asked + 1
        bad = runner.invoke(app, ["ask", " ", "--index-dir", str(settings.index_dir)])
        assert bad.exit_code == 1 and "question" in one_line_error(bad)
    assert not (settings.index_dir / ".serving.json").exists()  # gone with the server


def queries_served(base: str) -> float:
    metrics = httpx.get(base + "/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("qa_requests_total{") and 'route="/query"' in line
    )


def test_snapshot_copies_a_served_index_that_serves_on_its_own(settings, seed_index, tmp_path):
    dest = tmp_path / "copy"
    with running_server(settings.index_dir) as (base, _):
        result = runner.invoke(app, ["snapshot", str(dest), "--index-dir", str(settings.index_dir)])
        assert result.exit_code == 0, result.output
        assert "copied generation" in result.stdout
        assert httpx.get(base + "/health/ready", timeout=10).status_code == 200  # still serving
    listed = runner.invoke(app, ["list", "--index-dir", str(dest)])
    assert listed.exit_code == 0 and HUANG_DOC in listed.stdout
    assert not (dest / ".lock").exists()
    again = runner.invoke(app, ["snapshot", str(dest), "--index-dir", str(settings.index_dir)])
    assert again.exit_code == 1 and "not an empty folder" in one_line_error(again)
