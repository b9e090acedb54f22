"""The development questions of the answer model, asked of their collections through the
service: each with every candidate the answer stage described, and which of them hold a
gold span (see :mod:`bench.answers`)."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bench.answers import Asked
from bench.common import ROOT, log
from qa.answer.model import article_of
from qa.eval.datasets import Question, load_beir, load_question_set
from qa.search import search

OFF_TOPIC_SAMPLE = 200  # questions per off-topic pair


def ask(service: Any, question: Question, group: str, article: str, kind: str) -> Asked:
    """``question`` searched as ``POST /query`` searches it, and the answer stage's
    candidates described (no answer model needed)."""
    with service.snapshot() as index:
        result = search(service.retriever(), index, question.question, 5)
        candidates = service.finder.candidates(index, result)
    labels = np.zeros(0, dtype=bool)
    if candidates is not None:
        texts = {d: service.document(d).text for d, *_ in candidates.spans}
        labels = np.asarray(
            [
                kind == "answerable" and question.answered_by(d, texts[d][start:end])
                for d, start, end, _ in candidates.spans
            ],
            dtype=bool,
        )
    return Asked(group, article, question.lang, kind, candidates, labels)


def ask_all(service: Any, questions: list[tuple[Question, str, str]], group: str) -> list[Asked]:
    """``questions`` as (question, article, kind), asked of ``service``."""
    return [
        ask(service, q, group, article, kind)
        for q, article, kind in tqdm(questions, desc=group, unit="q", leave=False)
    ]


def seed_questions(service: Any) -> list[tuple[Question, str, str]]:
    texts = {d.doc_id: d.text for d in service.documents()}
    out = []
    for q in load_question_set(ROOT / "eval" / "questions.jsonl", texts):
        doc = q.answers[0][0] if q.answers else "unanswerable"
        out.append((q, article_of("seeds", doc), "answerable" if q.answerable else "near"))
    return out


def benchmark_questions(folder: Path, collection: str) -> list[tuple[Question, str, str]]:
    """Answerable questions of a benchmark that have gold spans."""
    return [
        (q, article_of(collection, sorted(q.relevant_docs)[0]), "answerable")
        for q in load_beir(folder).questions
        if q.gold
    ]


def near_topic(folder: Path) -> list[tuple[Question, str, str]]:
    """xquad_xling's unanswerable questions (SQuAD 2.0's), by the article of their
    paragraph."""
    out = []
    for line in (folder / "unanswerable.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        q = Question(row["id"], row["text"], row["lang"], answerable=False)
        out.append((q, article_of("xquad_xling", row["paragraph"]), "near"))
    return out


def in_english(
    questions: list[tuple[Question, str, str]], translator: Any
) -> list[tuple[Question, str, str]]:
    """``questions`` (Portuguese) translated into English by the service's translator."""
    out = []
    for q, article, kind in questions:
        text = translator.translate(q.question, "pt", "en")
        if text:
            out.append((replace(q, qid=f"{q.qid}-en", question=text, lang="en"), article, kind))
    return out


def off_topic(
    questions: list[tuple[Question, str, str]], seed: int, n: int = OFF_TOPIC_SAMPLE
) -> list[tuple[Question, str, str]]:
    """A sample of ``questions`` to ask of another collection: off-topic there."""
    rng = random.Random(seed)
    sample = rng.sample(questions, min(n, len(questions)))
    return [(replace(q, answerable=False), article, "off") for q, article, _ in sample]


def ask_development_questions(shared: Path) -> list[Asked]:
    from qa.core.config import Settings
    from qa.embed import load_embedder
    from qa.eval.runner import evaluation_service

    settings = Settings()
    embedder = load_embedder(settings)
    seconds: dict[str, float] = {}
    folders = {n: shared / n for n in ("faquad_pt", "xquad_xling")}
    services = {
        "seeds": evaluation_service(settings, embedder, "seeds", [ROOT / "seeds"], seconds),
        **{
            n: evaluation_service(settings, embedder, n, [load_beir(f).corpus], seconds)
            for n, f in folders.items()
        },
    }
    faquad = benchmark_questions(folders["faquad_pt"], "faquad_pt")
    xquad = benchmark_questions(folders["xquad_xling"], "xquad_xling")
    seeds = seed_questions(services["seeds"])
    log(f"answers: asking {len(seeds) + len(faquad) + len(xquad)} answerable questions and more")
    asked = ask_all(services["seeds"], [s for s in seeds if s[2] == "answerable"], "seeds")
    asked += ask_all(services["seeds"], [s for s in seeds if s[2] == "near"], "seeds near-topic")
    asked += ask_all(services["faquad_pt"], faquad, "faquad_pt")
    asked += ask_all(services["xquad_xling"], xquad, "xquad_xling")
    near = near_topic(folders["xquad_xling"])
    asked += ask_all(services["xquad_xling"], near, "xquad_xling near-topic")
    english = in_english(near, services["xquad_xling"].models.translator)
    asked += ask_all(services["xquad_xling"], english, "xquad_xling near-topic, in English")
    asked += ask_all(services["seeds"], off_topic(faquad, 1), "off: faquad_pt → seeds")
    asked += ask_all(services["xquad_xling"], off_topic(faquad, 2), "off: faquad_pt → xquad")
    asked += ask_all(services["faquad_pt"], off_topic(xquad, 3, 1200), "off: xquad → faquad_pt")
    asked += ask_all(services["seeds"], off_topic(xquad, 4, 800), "off: xquad → seeds")
    return asked
