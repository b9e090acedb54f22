"""Question sets and benchmarks: the seed question set (``eval/questions.jsonl``) and
BEIR-format folders (``corpus.jsonl``, ``queries.jsonl``, ``qrels.tsv``, optional
``answers.jsonl`` with a ``split``). Every malformed line is reported with its file and
line number."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.core.errors import QAError
from qa.ingest import json_object


class EvalError(QAError):
    """A question set or benchmark file is missing or malformed."""


@dataclass(frozen=True)
class Question:
    qid: str
    question: str
    lang: str
    answers: tuple[tuple[str, str], ...] = ()  # (doc_id, snippet), seed set
    relevant_docs: frozenset[str] = frozenset()  # BEIR qrels
    answerable: bool = True
    split: str | None = None
    gold: tuple[str, ...] = ()  # BEIR answers.jsonl: answer strings found in a relevant passage

    def answered_by(self, doc_id: str, text: str) -> bool:
        """Whether ``text`` (a span of document ``doc_id``) holds a gold answer: a seed
        snippet of that document, or a benchmark's answer string in a relevant document."""
        found = normalise(text).casefold()
        if self.answers:
            return any(d == doc_id and normalise(s).casefold() in found for d, s in self.answers)
        return doc_id in self.relevant_docs and any(
            normalise(g).casefold() in found for g in self.gold if g.strip()
        )


# Gold answer strings shorter than this are not kept: some of xquad_xling's machine-
# translated spans are broken (empty, a lone '.').
MIN_GOLD_CHARS = 4


def normalise(text: str) -> str:
    return " ".join(text.split())


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise EvalError(f"{path}: file not found")
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise EvalError(f"{path}: not valid UTF-8") from exc
    for lineno, line in enumerate(lines, 1):
        if line.strip():
            rows.append((lineno, json_object(line, f"{path}:{lineno}", EvalError)))
    return rows


def load_question_set(path: Path, documents: dict[str, str] | None = None) -> list[Question]:
    """Read a seed question set; with ``documents`` (id -> text), check every snippet occurs."""
    questions: list[Question] = []
    seen: set[str] = set()
    for lineno, row in _read_jsonl(path):
        where = f"{path}:{lineno}"
        qid, question, lang = row.get("id"), row.get("question"), row.get("lang")
        answers, answerable = row.get("answers", []), row.get("answerable", True)
        if not isinstance(qid, str) or not qid:
            raise EvalError(f"{where}: 'id' must be a non-empty string")
        if qid in seen:
            raise EvalError(f"{where}: duplicate question id {qid!r}")
        if not isinstance(question, str) or not question.strip():
            raise EvalError(f"{where}: 'question' must be a non-empty string")
        if not isinstance(lang, str) or not lang:
            raise EvalError(f"{where}: 'lang' must be a language code such as 'en'")
        if not isinstance(answerable, bool):
            raise EvalError(f"{where}: 'answerable' must be true or false")
        if not isinstance(answers, list) or not all(
            isinstance(a, dict)
            and isinstance(a.get("doc_id"), str)
            and isinstance(a.get("snippet"), str)
            and a["snippet"].strip()
            for a in answers
        ):
            raise EvalError(f"{where}: 'answers' must be a list of {{'doc_id', 'snippet'}} objects")
        if answerable != bool(answers):
            raise EvalError(f"{where}: an answerable question needs answers, an unanswerable none")
        pairs = tuple((a["doc_id"], a["snippet"]) for a in answers)
        if documents is not None:
            for doc_id, snippet in pairs:
                if doc_id not in documents:
                    raise EvalError(f"{where}: unknown document {doc_id!r}")
                if normalise(snippet) not in normalise(documents[doc_id]):
                    raise EvalError(f"{where}: snippet {snippet[:40]!r} not found in {doc_id}")
        seen.add(qid)
        questions.append(Question(qid, question, lang, pairs, answerable=answerable))
    if not questions:
        raise EvalError(f"{path}: no questions")
    return questions


@dataclass(frozen=True)
class Benchmark:
    name: str
    corpus: Path
    questions: list[Question]


def _read_answers(path: Path) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Each query's split and gold answer strings, from an optional ``answers.jsonl``
    (``answers``: a list, or ``answer``: one string)."""
    splits: dict[str, str] = {}
    gold: dict[str, tuple[str, ...]] = {}
    if path.is_file():
        for _, row in _read_jsonl(path):
            qid = str(row.get("query_id"))
            if row.get("split"):
                splits[qid] = str(row["split"])
            found = row.get("answers", [row.get("answer")])
            if isinstance(found, list):
                gold[qid] = tuple(
                    a for a in found if isinstance(a, str) and len(a.strip()) >= MIN_GOLD_CHARS
                )
    return splits, gold


def load_beir(folder: Path) -> Benchmark:
    """Read a BEIR-format folder and check that qrels name known queries and documents."""
    corpus = folder / "corpus.jsonl"
    for needed in (corpus, folder / "queries.jsonl", folder / "qrels.tsv"):
        if not needed.is_file():
            raise EvalError(
                f"{needed}: file not found (a BEIR folder needs corpus.jsonl, "
                "queries.jsonl and qrels.tsv)"
            )
    doc_ids: set[str] = set()
    for lineno, row in _read_jsonl(corpus):
        if not isinstance(row.get("id"), (str, int)):
            raise EvalError(f"{corpus}:{lineno}: 'id' must be a string")
        doc_ids.add(str(row["id"]))
    queries: dict[str, tuple[str, str]] = {}
    for lineno, row in _read_jsonl(folder / "queries.jsonl"):
        if not isinstance(row.get("id"), (str, int)) or not isinstance(row.get("text"), str):
            raise EvalError(f"{folder / 'queries.jsonl'}:{lineno}: needs 'id' and 'text'")
        queries[str(row["id"])] = (row["text"], str(row.get("lang") or "und"))
    splits, gold = _read_answers(folder / "answers.jsonl")
    qrels: dict[str, set[str]] = {}
    qrels_path = folder / "qrels.tsv"
    for lineno, line in enumerate(qrels_path.read_text(encoding="utf-8").splitlines(), 1):
        cells = line.split("\t")
        if lineno == 1 and cells[0] in ("query-id", "query_id", "qid"):
            continue
        if not line.strip():
            continue
        if len(cells) < 2:
            raise EvalError(f"{qrels_path}:{lineno}: expected query-id<TAB>corpus-id<TAB>score")
        qid, doc_id = cells[0], cells[1]
        score = cells[2] if len(cells) > 2 else "1"
        if qid not in queries:
            raise EvalError(f"{qrels_path}:{lineno}: query {qid!r} is not in queries.jsonl")
        if doc_id not in doc_ids:
            raise EvalError(f"{qrels_path}:{lineno}: document {doc_id!r} is not in corpus.jsonl")
        try:
            relevant = float(score) > 0
        except ValueError as exc:
            raise EvalError(f"{qrels_path}:{lineno}: score {score!r} is not a number") from exc
        if relevant:
            qrels.setdefault(qid, set()).add(doc_id)
    questions = [
        Question(
            qid,
            text,
            lang,
            relevant_docs=frozenset(qrels[qid]),
            split=splits.get(qid),
            gold=gold.get(qid, ()),
        )
        for qid, (text, lang) in queries.items()
        if qid in qrels
    ]
    if not questions:
        raise EvalError(f"{qrels_path}: no query has a relevant document")
    return Benchmark(folder.name, corpus, questions)
