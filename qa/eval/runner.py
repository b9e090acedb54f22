"""Run questions through the service and judge the answers.

* Seed set: passage level. A returned passage is relevant when it comes from the gold
  document and contains a gold snippet (whitespace normalised). Questions marked
  unanswerable are scored apart, for calibration.
* BEIR folder: document level; a document's rank is the rank of its best passage.

Every question goes through :meth:`qa.service.QAService.ask`, the code path of
``POST /query``, on an index of the collection's own (built on first use, under
``<index_dir>/benchmarks/``, keyed by the collection's content and the settings).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from qa.answer import Candidate, Reply, Stage, choose
from qa.answer.model import article_of
from qa.collection import home_of
from qa.core.config import Settings
from qa.embed import Embedder, embedder_backend, load_embedder
from qa.eval.datasets import Question, load_beir, load_question_set, normalise
from qa.eval.metrics import (
    Judged,
    collapse_to_documents,
    expected_calibration_error,
    judge_documents,
    mean_metrics,
    reliability,
)
from qa.eval.metrics import percentile as pct
from qa.ingest import load_documents
from qa.search import Hit
from qa.service import QAService, start_service
from qa.store import FORMAT_VERSION

PASSAGES_PER_QUERY = 10  # passage-level evaluation reads the top 10
BEIR_PASSAGES = 50  # document-level evaluation collapses the top 50 passages (API maximum)


@dataclass(frozen=True)
class Outcome:
    question: Question
    judged: Judged
    returned: tuple[tuple[str, str], ...]  # (id, text) of what came back, best first
    top_score: float
    latency_ms: float
    answered: bool = False  # the reply carried an answer (confident enough)
    answer_correct: bool = False  # the best answer found, given or not, holds a gold answer
    highlight_correct: bool = False  # the rank-1 passage's highlight holds one (baseline)
    confidence: float = 0.0  # of the best answer found
    held_out: HeldOut | None = None  # the same, by the model fitted without its article


@dataclass(frozen=True)
class HeldOut:
    """A question's answer by the answer model fitted without its article's fold."""

    answered: bool
    correct: bool
    confidence: float


def highlight_answers(question: Question, hits: Sequence[Hit]) -> bool:
    """Whether the rank-1 passage's highlight holds a gold answer (the answer stage's
    baseline)."""
    if not hits:
        return False
    start, end = hits[0].highlight
    return question.answered_by(hits[0].chunk.doc_id, hits[0].document.text[start:end])


def question_article(collection: str, question: Question) -> str:
    """The article a question is about (its fold's key in the answer model)."""
    docs = [d for d, _ in question.answers] or sorted(question.relevant_docs)
    return article_of(collection, docs[0] if docs else question.qid)


def judge_answer(
    question: Question, reply: Reply, held_out: Stage | None = None
) -> tuple[bool, bool, bool, float, HeldOut | None]:
    """Whether the reply has an answer, whether the best answer found holds a gold
    answer, whether the rank-1 highlight does, the best answer's confidence, and the same
    by the ``held_out`` stage."""
    hits = reply.result.hits
    texts = {h.document.doc_id: h.document.text for h in hits}
    highlight = highlight_answers(question, hits)

    def holds(c: Candidate | None) -> bool:
        return c is not None and question.answered_by(
            c.doc_id, texts[c.doc_id][c.char_start : c.char_end]
        )

    c = reply.candidate
    held = None
    if held_out is not None and reply.candidates is not None:
        h = choose(reply.candidates, held_out)
        held = HeldOut(h.confidence >= h.threshold, holds(h), h.confidence)
    elif held_out is not None:
        held = HeldOut(False, False, 0.0)
    return reply.answer is not None, holds(c), highlight, c.confidence if c else 0.0, held


@dataclass
class MethodRun:
    method: str
    resolved: str
    outcomes: list[Outcome]

    @property
    def label(self) -> str:
        return f"default ({self.resolved})" if self.method == "default" else self.method

    def scored(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.question.answerable]

    def latency(self) -> tuple[float, float]:
        values = [o.latency_ms for o in self.outcomes]
        return statistics.median(values), pct(values, 95)

    def answers(self) -> dict[str, float] | None:
        """Over answerable questions with gold answers: how often the best answer found
        holds one, how often the rank-1 highlight does (the baseline), and how often an
        answer is given and holds one; the answered rate of answerable questions and the
        null rate of unanswerable ones."""
        gold = [o for o in self.scored() if o.question.answers or o.question.gold]
        if not gold:
            return None
        out = {
            "answer_accuracy": sum(o.answer_correct for o in gold) / len(gold),
            "highlight_accuracy": sum(o.highlight_correct for o in gold) / len(gold),
            "answered_correct": sum(o.answered and o.answer_correct for o in gold) / len(gold),
            "answered": sum(o.answered for o in self.scored()) / len(self.scored()),
        }
        unanswerable = [o for o in self.outcomes if not o.question.answerable]
        if unanswerable:
            out["null_unanswerable"] = sum(not o.answered for o in unanswerable) / len(unanswerable)
        held = [o.held_out for o in gold if o.held_out is not None]
        if len(held) == len(gold):
            out["held_answer_accuracy"] = sum(h.correct for h in held) / len(held)
            answered = [o.held_out for o in self.scored() if o.held_out is not None]
            out["held_answered"] = sum(h.answered for h in answered) / len(answered)
            nulls = [o.held_out for o in unanswerable if o.held_out is not None]
            if nulls:
                out["held_null_unanswerable"] = sum(not h.answered for h in nulls) / len(nulls)
        return out

    def calibration(self) -> tuple[float, list[tuple[str, int, float, float]]] | None:
        """Expected calibration error and reliability table of the held-out confidence
        over every question (an unanswerable one is never right)."""
        judged = [o for o in self.outcomes if o.held_out is not None]
        judged = [
            o for o in judged if o.question.gold or o.question.answers or not o.question.answerable
        ]
        if not judged:
            return None
        confidence = np.asarray([o.held_out.confidence for o in judged if o.held_out])
        right = np.asarray([float(o.held_out.correct) for o in judged if o.held_out])
        return expected_calibration_error(confidence, right), reliability(confidence, right)

    def groups(self) -> dict[str, dict[str, float]]:
        """Metrics overall, per language, and per language and split when splits exist."""
        scored = self.scored()
        out = {"all": mean_metrics(o.judged for o in scored)}
        keys: dict[str, list[Outcome]] = {}
        for o in scored:
            keys.setdefault(o.question.lang, []).append(o)
            if o.question.split:
                keys.setdefault(f"{o.question.lang}/{o.question.split}", []).append(o)
        for key in sorted(keys):
            out[key] = mean_metrics(o.judged for o in keys[key])
        return out

    def group_sizes(self) -> dict[str, int]:
        sizes = {"all": len(self.scored())}
        for o in self.scored():
            sizes[o.question.lang] = sizes.get(o.question.lang, 0) + 1
            if o.question.split:
                key = f"{o.question.lang}/{o.question.split}"
                sizes[key] = sizes.get(key, 0) + 1
        return sizes


@dataclass
class EvalRun:
    dataset: str
    level: str
    command: str
    runs: list[MethodRun]
    index: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)
    date: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    machine: str = field(default_factory=lambda: machine_description())


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return (
        f"{os.cpu_count()} CPU cores ({cpu}), no GPU; Python {platform.python_version()}, "
        f"torch {torch.__version__}, {platform.system()} {platform.machine()}"
    )


def _judge_passages(question: Question, hits: Sequence[Hit], relevant_count: int) -> Judged:
    gold = [(doc, normalise(snippet)) for doc, snippet in question.answers]
    matches = tuple(
        frozenset(
            str(i)
            for i, (doc, snippet) in enumerate(gold)
            if h.chunk.doc_id == doc and snippet in normalise(h.chunk.text)
        )
        for h in hits
    )
    return Judged(matches, n_answers=len(gold), n_relevant=relevant_count)


def _relevant_passages(service: QAService, questions: Sequence[Question]) -> dict[str, int]:
    """How many passages of the index hold a gold snippet of each question."""
    with service.snapshot() as index:
        chunks = [(c.doc_id, normalise(c.text)) for c in index.chunks.values()]
    counts = {}
    for q in questions:
        gold = [(doc, normalise(snippet)) for doc, snippet in q.answers]
        counts[q.qid] = sum(
            1 for doc_id, text in chunks if any(doc_id == d and s in text for d, s in gold)
        )
    return counts


def _resolve(service: QAService, method: str) -> str:
    return service.settings.method if method == "default" else method


def run_methods(
    service: QAService,
    questions: Sequence[Question],
    methods: Iterable[str],
    level: str,
    progress: bool | None = None,
    collection: str = "seeds",
) -> list[MethodRun]:
    """Ask every question with every method through ``service.ask``; judge the answers,
    by the service's answer model and by the one fitted without each question's article
    (``collection`` names the article keys)."""
    model = service.models.answer_model
    relevant = _relevant_passages(service, questions) if level == "passage" else {}
    runs = []
    for method in methods:
        resolved = _resolve(service, method)
        service.retriever(resolved)  # build outside the timed loop (bm25 indexes on first use)
        outcomes = []
        for q in tqdm(
            questions,
            desc=f"{method:>8}",
            unit="q",
            disable=True if progress is False else None,
            leave=False,
        ):
            started = time.perf_counter()
            if level == "passage":
                reply = service.ask(q.question, PASSAGES_PER_QUERY, resolved)
                elapsed = (time.perf_counter() - started) * 1000
                hits = reply.result.hits
                judged = _judge_passages(q, hits, relevant[q.qid])
                returned = tuple((h.chunk.chunk_id, h.chunk.text) for h in hits)
            else:
                reply = service.ask(q.question, BEIR_PASSAGES, resolved)
                elapsed = (time.perf_counter() - started) * 1000
                hits = reply.result.hits
                ranked = collapse_to_documents((h.chunk.doc_id, h.score) for h in hits)
                judged = judge_documents(ranked[:PASSAGES_PER_QUERY], q.relevant_docs)
                first = {h.chunk.doc_id: h.chunk.text for h in reversed(hits)}
                returned = tuple((d, first[d]) for d in ranked[:PASSAGES_PER_QUERY])
            top = hits[0].score if hits else 0.0
            held_out = model.held_out(question_article(collection, q))
            judgement = judge_answer(q, reply, held_out)
            outcomes.append(Outcome(q, judged, returned, top, elapsed, *judgement))
        runs.append(MethodRun(method, resolved, outcomes))
    return runs


def _index_info(service: QAService) -> dict[str, Any]:
    with service.snapshot() as index:
        return {
            "documents": len(index.documents),
            "passages": len(index.chunks),
            "model": index.manifest.model.name,
            "chunking": index.manifest.chunking.model_dump(),
        }


def evaluate_seed_set(
    settings: Settings,
    questions_path: Path,
    seeds: Path,
    methods: Sequence[str],
    command: str,
    embedder: Embedder | None = None,
    progress: bool | None = None,
) -> EvalRun:
    """Score the question set on an index of ``seeds`` of its own (built on first use)."""
    seconds: dict[str, float] = {}
    embedder = embedder or load_embedder(settings)
    service = evaluation_service(settings, embedder, "seeds", [seeds], seconds, progress=progress)
    texts = {d.doc_id: d.text for d in service.documents()}
    questions = load_question_set(questions_path, texts)
    started = time.perf_counter()
    runs = run_methods(service, questions, methods, "passage", progress)
    return EvalRun(
        dataset=f"seed question set ({questions_path.name})",
        level="passage",
        command=command,
        runs=runs,
        index=_index_info(service),
        seconds={**seconds, "queries": round(time.perf_counter() - started, 1)},
    )


def evaluation_index_dir(
    settings: Settings, embedder: Embedder, name: str, sources: Sequence[Path]
) -> Path:
    """Folder of the index of an evaluation collection, keyed by its content and settings."""
    key = hashlib.sha256()
    for source in sources:
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
        for path in files:
            key.update(path.name.encode() + b"\0" + path.read_bytes())
    key.update(
        json.dumps(
            [
                embedder.name,
                embedder_backend(embedder),
                # an ONNX graph exported anew (a changed export) gives other vectors
                getattr(embedder, "export", None),
                FORMAT_VERSION,
                settings.model_dump(
                    mode="json",
                    include={
                        "chunk_size",
                        "chunk_overlap",
                        "vector_store",
                        "ann",
                        "ann_flat_max",
                        "ann_nprobe",
                        "ann_ef_search",
                        "ann_hnsw_m",
                        "ann_candidates",
                        "milvus_index",
                        "companion",
                    },
                ),
            ],
            sort_keys=True,
        ).encode()
    )
    return settings.index_dir / "benchmarks" / f"{name}-{key.hexdigest()[:12]}"


def evaluation_service(
    settings: Settings,
    embedder: Embedder,
    name: str,
    sources: Sequence[Path],
    seconds: dict[str, float],
    rebuild: bool = False,
    progress: bool | None = None,
) -> QAService:
    """A service over the collection's own index, built on first use (or when ``rebuild``)."""
    started = time.perf_counter()
    home = home_of(settings).beside(evaluation_index_dir(settings, embedder, name, sources))
    settings = home.settings
    if not rebuild and home.exists():
        service = start_service(settings, embedder)  # an index that cannot serve: None
        if service.collection is not None:
            seconds["index (reused)"] = round(time.perf_counter() - started, 1)
            return service
    # progress bars on a terminal only: in a log file they would be thousands of lines
    bars = sys.stderr.isatty() if progress is None else progress
    QAService(settings, embedder).build(load_documents(sources), bars, replace=True)
    seconds["index build"] = round(time.perf_counter() - started, 1)
    return start_service(settings, embedder)


def evaluate_beir(
    settings: Settings,
    folder: Path,
    methods: Sequence[str],
    command: str,
    embedder: Embedder | None = None,
    progress: bool | None = None,
    rebuild: bool = False,
) -> EvalRun:
    """Evaluate on a BEIR folder; its index is reused unless ``rebuild`` (or settings changed)."""
    started = time.perf_counter()
    bench = load_beir(folder)
    seconds: dict[str, float] = {}
    embedder = embedder or load_embedder(settings)
    service = evaluation_service(
        settings, embedder, bench.name, [bench.corpus], seconds, rebuild, progress
    )
    query_started = time.perf_counter()
    runs = run_methods(service, bench.questions, methods, "document", progress, bench.name)
    seconds["queries"] = round(time.perf_counter() - query_started, 1)
    seconds["total"] = round(time.perf_counter() - started, 1)
    return EvalRun(
        dataset=f"{bench.name} (BEIR, {len(bench.questions)} queries)",
        level="document",
        command=command,
        runs=runs,
        index=_index_info(service),
        seconds=seconds,
    )


@dataclass(frozen=True)
class OffTopicRun:
    """Questions a collection cannot answer (another benchmark's), asked of it: how often
    the reply says the articles don't say."""

    questions: str
    collection: str
    asked: int
    null: int
    median_confidence: float

    @property
    def null_rate(self) -> float:
        return self.null / self.asked if self.asked else 0.0


def evaluate_off_topic(
    service: QAService, questions: Sequence[Question], questions_name: str, collection: str
) -> OffTopicRun:
    """Ask every question of ``service``'s collection with the default method; count the
    replies without an answer."""
    null, confidences = 0, []
    for q in questions:
        reply = service.ask(q.question, 5)
        null += reply.answer is None
        confidences.append(reply.candidate.confidence if reply.candidate else 0.0)
    median = statistics.median(confidences) if confidences else 0.0
    return OffTopicRun(questions_name, collection, len(questions), null, median)
