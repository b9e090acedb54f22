"""`qa check`: what is wrong with an index folder, and `--repair` salvaging what can be read."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.service import QAService, bulk
from qa.store import Store
from tests.helpers import StandInEmbedder, one_line_error
from tests.unit.test_bulk import BATCH, _docs

runner = CliRunner()


@pytest.fixture
def built(settings, tmp_path) -> QAService:
    """Twelve documents in several segments (one commit per batch of about four)."""
    batched = {"index_dir": tmp_path / "index", "index_batch_chars": BATCH}
    service = QAService(settings.model_copy(update=batched), StandInEmbedder())
    bulk.build(service, lambda: iter(_docs(12)))
    return service


def _check(service: QAService, *extra: str):
    return runner.invoke(app, ["check", *extra, "--index-dir", str(service.settings.index_dir)])


def _segments(service: QAService) -> list[str]:
    return [s.name for s in Store(service.settings.index_dir).read_manifest().segments]


def test_a_sound_index_passes(built: QAService) -> None:
    result = _check(built)
    assert result.exit_code == 0, result.output
    assert "12 documents" in result.stdout and "no problem found" in result.stdout


def test_a_damaged_segment_is_named_and_repair_keeps_the_rest(built: QAService) -> None:
    names = _segments(built)
    assert len(names) >= 2
    damaged = built.settings.index_dir / "segments" / names[0] / "texts.txt"
    data = bytearray(damaged.read_bytes())
    data[10] ^= 0x20  # one letter's case: the text no longer matches its checksum
    damaged.write_bytes(bytes(data))
    raw = (built.settings.index_dir / "segments" / names[0] / "documents.jsonl").read_text()
    lost = tuple(json.loads(line)["doc_id"] for line in raw.splitlines() if line.strip())

    found = _check(built)
    assert found.exit_code == 1
    assert f"segment {names[0]}: cannot be read" in found.output
    assert "texts.txt fails its checksum" in found.output
    assert "qa check --repair" in one_line_error(found) and lost[0] in one_line_error(found)

    repaired = _check(built, "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert f"with {len(lost)} documents: {', '.join(lost)}" in repaired.stdout
    again = _check(built)
    assert again.exit_code == 0 and f"{12 - len(lost)} documents" in again.stdout
    reopened = QAService.open(built.settings, StandInEmbedder(), writable=False)
    kept = sorted(d.doc_id for d in reopened.documents())
    assert kept == sorted(set(d.doc_id for d in _docs(12)) - set(lost))
    assert reopened.ask("lucro do trimestre", 3, with_answer=False).result.hits  # it serves


def test_a_damaged_manifest_cannot_be_repaired_and_says_to_rebuild(built: QAService) -> None:
    (built.settings.index_dir / "manifest.json").write_text("{", encoding="utf-8")
    found = _check(built)
    assert found.exit_code == 1 and "manifest.json" in found.output
    repaired = _check(built, "--repair")
    assert repaired.exit_code == 1 and "qa index" in one_line_error(repaired)


def test_a_vector_that_is_no_unit_vector_is_found_even_under_a_valid_checksum(
    built: QAService,
) -> None:
    """A bad vector written by a faulty writer, its checksum recorded as if it were fine."""
    import hashlib

    import numpy as np

    store = Store(built.settings.index_dir)
    manifest = store.read_manifest()
    entry = manifest.segments[-1]
    path = built.settings.index_dir / "segments" / entry.name / "chunks.npy"
    array = np.load(path)
    array[0] *= 3.0
    np.save(path, array)
    files = {**entry.files, "chunks.npy": hashlib.sha256(path.read_bytes()).hexdigest()}
    segments = (*manifest.segments[:-1], entry.model_copy(update={"files": files}))
    store.commit(manifest.model_copy(update={"segments": segments}))
    found = _check(built)
    assert found.exit_code == 1
    assert f"segment {entry.name}: 1 chunks vectors are not finite unit vectors" in found.output


def test_a_damaged_vector_graph_is_rebuilt_from_the_stored_vectors(settings, tmp_path) -> None:
    graph = settings.model_copy(update={"index_dir": tmp_path / "index", "ann": "hnsw"})
    service = QAService(graph, StandInEmbedder())
    bulk.build(service, lambda: iter(_docs(6)))
    files = [p for p in (graph.index_dir / "ann").rglob("*") if p.is_file()]
    assert files  # the saved graphs
    for path in files:
        path.write_bytes(path.read_bytes()[:-7] + b"damaged")
    found = _check(service)
    assert found.exit_code == 1 and "vector store:" in found.output
    repaired = _check(service, "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert "vector store rebuilt" in repaired.stdout
    assert _check(service).exit_code == 0
    reopened = QAService.open(graph, StandInEmbedder(), writable=False)
    assert reopened.ask("lucro do trimestre", 3, with_answer=False).result.hits
