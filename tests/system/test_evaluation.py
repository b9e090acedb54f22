from __future__ import annotations

import collections
import json

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.eval.datasets import EvalError, load_beir, load_question_set
from qa.eval.report import to_json
from qa.eval.runner import evaluate_beir, evaluate_seed_set, evaluation_index_dir
from tests.helpers import REPO, SEEDS, original_text

QUESTIONS = REPO / "eval" / "questions.jsonl"


def test_question_set_is_well_formed_and_its_gold_is_in_the_articles():
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        for answer in row["answers"]:
            # gold snippets are copied exactly from the article text
            assert answer["snippet"] in original_text(answer["doc_id"]), row["id"]
    langs = collections.Counter(r["lang"] for r in rows)
    assert len(rows) >= 60
    assert langs["en"] * 2 >= len(rows)
    assert langs["pt"] > 0
    others = {lang: n for lang, n in langs.items() if lang not in ("en", "pt")}
    assert len(others) >= 3 and sum(others.values()) >= 12
    assert sum(not r["answerable"] for r in rows) >= 3
    both = [r for r in rows if len({a["doc_id"] for a in r["answers"]}) == 2]
    assert len(both) >= 5
    questions = load_question_set(
        QUESTIONS, {d: original_text(d) for d in {a["doc_id"] for r in rows for a in r["answers"]}}
    )
    assert len(questions) == len(rows)


@pytest.mark.parametrize(
    "line, message",
    [
        ("not json", "questions.jsonl:2: not a JSON object"),
        (
            '{"id": "q2", "lang": "en", "question": "?", "answers": [{"doc_id": "d"}]}',
            "questions.jsonl:2: 'answers' must be a list",
        ),
        (
            '{"id": "q1", "lang": "en", "question": "?", "answers": [], "answerable": false}',
            "questions.jsonl:2: duplicate question id 'q1'",
        ),
        (
            '{"id": "q2", "lang": "en", "question": "?", "answers": [{"doc_id": "d", '
            '"snippet": "absent"}]}',
            "questions.jsonl:2: snippet 'absent' not found in d",
        ),
    ],
)
def test_malformed_question_file_names_file_and_line(tmp_path, line, message):
    path = tmp_path / "questions.jsonl"
    good = json.dumps(
        {
            "id": "q1",
            "lang": "en",
            "question": "Hi?",
            "answers": [{"doc_id": "d", "snippet": "hello"}],
        }
    )
    path.write_text(good + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(EvalError, match=message.replace("?", r"\?")):
        load_question_set(path, {"d": "hello world"})


def write_beir(folder, qrels="query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t1\n"):
    folder.mkdir()
    docs = [
        ("d1", "A NVIDIA perdeu US$ 600 bilhões em valor de mercado após o anúncio do R1."),
        ("d2", "O paradoxo de Jevons diz que mais eficiência leva a mais consumo do recurso."),
        ("d3", "A teleconferência de resultados da NVIDIA será em 26 de fevereiro."),
    ]
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"id": i, "title": "", "text": t}) + "\n" for i, t in docs)
    )
    queries = [
        ("q1", "How much market value did NVIDIA lose?", "en"),
        ("q2", "O que diz o paradoxo de Jevons?", "pt"),
        ("q3", "Em que data será a teleconferência de resultados?", "pt"),
    ]
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"id": i, "text": t, "lang": lang}) + "\n" for i, t, lang in queries)
    )
    (folder / "qrels.tsv").write_text(qrels)
    return folder


def test_bad_benchmark_folders_name_file_and_line(tmp_path):
    bad = write_beir(tmp_path / "bad", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\tnope\t1\n")
    with pytest.raises(EvalError, match=r"qrels.tsv:3: document 'nope' is not in corpus.jsonl"):
        load_beir(bad)
    unknown_query = write_beir(tmp_path / "uq", "query-id\tcorpus-id\tscore\nqx\td1\t1\n")
    with pytest.raises(EvalError, match=r"qrels.tsv:2: query 'qx' is not in queries.jsonl"):
        load_beir(unknown_query)
    missing = write_beir(tmp_path / "missing")
    (missing / "qrels.tsv").unlink()
    with pytest.raises(EvalError, match=r"qrels.tsv: file not found"):
        load_beir(missing)
    result = CliRunner().invoke(app, ["eval", "--beir", str(missing)])
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "qrels.tsv: file not found" in lines[0]


def test_beir_evaluation_builds_then_reuses_its_index(tmp_path, settings, embedder):
    folder = write_beir(tmp_path / "tiny")
    local = settings.model_copy(update={"index_dir": tmp_path / "index"})
    first = evaluate_beir(
        local, folder, ["dense", "bm25"], "qa eval --beir tiny", embedder, progress=False
    )
    assert "index build" in first.seconds
    dense, bm25 = first.runs
    assert dense.groups()["all"]["MRR@10"] == 1.0  # three distinct topics, one per document
    assert set(dense.groups()) == {"all", "en", "pt"}
    assert bm25.groups()["pt"]["Hit@1"] == 1.0  # the Portuguese question shares words
    second = evaluate_beir(local, folder, ["default"], "again", embedder, progress=False)
    assert "index (reused)" in second.seconds
    assert second.runs[0].label == "default (hybrid)"
    report = to_json(second)
    assert report["methods"]["default (hybrid)"]["n"] == 3


def test_seed_evaluation_goes_through_the_service(settings, embedder, tmp_path):
    local = settings.model_copy(update={"index_dir": tmp_path / "index"})
    run = evaluate_seed_set(
        local, QUESTIONS, SEEDS, ["default", "bm25"], "qa eval", embedder, progress=False
    )
    assert "index build" in run.seconds  # its own index of seeds/, not the live one
    hybrid, bm25 = run.runs
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()]
    unanswerable = sum(not row["answerable"] for row in rows)
    assert unanswerable >= 10
    assert len(hybrid.scored()) == len(hybrid.outcomes) - unanswerable  # scored apart
    # the answer stage (fitted on the default retriever's candidates) is judged beside retrieval
    answers = hybrid.answers()
    assert answers is not None
    assert 0.5 < answers["answer_accuracy"] <= 1 and 0.5 < answers["answered"] <= 1
    assert 0 <= answers["null_unanswerable"] <= 1
    assert {"en", "pt", "es", "fr", "de"} <= set(hybrid.groups())
    # the multilingual model must beat word matching on a mostly non-Portuguese question set
    assert hybrid.groups()["all"]["MRR@10"] > bm25.groups()["all"]["MRR@10"]
    assert hybrid.groups()["all"]["Hit@5"] >= 0.9
    median, p95 = hybrid.latency()
    assert 0 < median <= p95


def test_evaluation_index_is_keyed_by_the_onnx_export(settings, embedder):
    """A new ONNX export (another export version or model) gets its own evaluation index
    instead of reusing vectors embedded by the old graph."""
    from types import SimpleNamespace

    def key(**changes):
        fields = {"name": embedder.name, "backend": "onnx-int8", "export": "m-aaaa"} | changes
        return evaluation_index_dir(settings, SimpleNamespace(**fields), "seeds", [SEEDS])

    assert key() == key()
    assert key(export="m-bbbb") != key()
    assert key(backend="onnx") != key()
    assert embedder.backend != "torch" and embedder.export  # the real embedder says which
