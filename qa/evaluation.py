"""Retrieval evaluation: the seed question set and BEIR-format benchmarks.

* Seed set (``eval/questions.jsonl``): passage level. A returned passage is relevant
  when it comes from the gold document and contains a gold snippet (whitespace
  normalised). Questions marked unanswerable are scored apart, for calibration.
* BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels.tsv``, optional
  ``answers.jsonl`` with a ``split``): document level; a document's rank is the rank
  of its best passage.

Every question goes through :meth:`qa.service.QAService.ask`, the code path of
``POST /query``. Metrics come from :mod:`qa.metrics`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from qa.collection import build_index, open_index
from qa.core.config import Settings
from qa.core.errors import QAError
from qa.embed import Embedder, embedder_backend
from qa.ingest import json_object, load_documents
from qa.metrics import METRICS, Judged, collapse_to_documents, judge_documents, mean_metrics
from qa.metrics import percentile as pct
from qa.service import QAService
from qa.store import FORMAT_VERSION
from qa.vectors import make_backend

PASSAGES_PER_QUERY = 10  # passage-level evaluation reads the top 10
BEIR_PASSAGES = 50  # document-level evaluation collapses the top 50 passages (API maximum)


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


def _normalise(text: str) -> str:
    return " ".join(text.split())


# ----------------------------------------------------------------------------- loading
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
                if _normalise(snippet) not in _normalise(documents[doc_id]):
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
    splits: dict[str, str] = {}
    answers = folder / "answers.jsonl"
    if answers.is_file():
        for _, row in _read_jsonl(answers):
            if row.get("split"):
                splits[str(row.get("query_id"))] = str(row["split"])
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
        Question(qid, text, lang, relevant_docs=frozenset(qrels[qid]), split=splits.get(qid))
        for qid, (text, lang) in queries.items()
        if qid in qrels
    ]
    if not questions:
        raise EvalError(f"{qrels_path}: no query has a relevant document")
    return Benchmark(folder.name, corpus, questions)


# ----------------------------------------------------------------------------- running
@dataclass(frozen=True)
class Outcome:
    question: Question
    judged: Judged
    returned: tuple[tuple[str, str], ...]  # (id, text) of what came back, best first
    top_score: float
    latency_ms: float


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


def _judge_passages(question: Question, hits: Sequence[Any], relevant_count: int) -> Judged:
    gold = [(doc, _normalise(snippet)) for doc, snippet in question.answers]
    matches = tuple(
        frozenset(
            str(i)
            for i, (doc, snippet) in enumerate(gold)
            if h.chunk.doc_id == doc and snippet in _normalise(h.chunk.text)
        )
        for h in hits
    )
    return Judged(matches, n_answers=len(gold), n_relevant=relevant_count)


def _relevant_passages(service: QAService, question: Question) -> int:
    gold = [(doc, _normalise(snippet)) for doc, snippet in question.answers]
    return sum(
        1
        for c in service.require_index().chunks.values()
        if any(c.doc_id == doc and snippet in _normalise(c.text) for doc, snippet in gold)
    )


def _resolve(service: QAService, method: str) -> str:
    return service.settings.method if method == "default" else method


def run_methods(
    service: QAService,
    questions: Sequence[Question],
    methods: Iterable[str],
    level: str,
    progress: bool | None = None,
) -> list[MethodRun]:
    """Ask every question with every method through ``service.ask``; judge the answers."""
    relevant = (
        {q.qid: _relevant_passages(service, q) for q in questions} if level == "passage" else {}
    )
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
                answer = service.ask(q.question, PASSAGES_PER_QUERY, resolved)
                elapsed = (time.perf_counter() - started) * 1000
                judged = _judge_passages(q, answer.hits, relevant[q.qid])
                returned = tuple((h.chunk.chunk_id, h.chunk.text) for h in answer.hits)
            else:
                answer = service.ask(q.question, BEIR_PASSAGES, resolved)
                elapsed = (time.perf_counter() - started) * 1000
                ranked = collapse_to_documents((h.chunk.doc_id, h.score) for h in answer.hits)
                judged = judge_documents(ranked[:PASSAGES_PER_QUERY], q.relevant_docs)
                first = {h.chunk.doc_id: h.chunk.text for h in reversed(answer.hits)}
                returned = tuple((d, first[d]) for d in ranked[:PASSAGES_PER_QUERY])
            top = answer.hits[0].score if answer.hits else 0.0
            outcomes.append(Outcome(q, judged, returned, top, elapsed))
        runs.append(MethodRun(method, resolved, outcomes))
    return runs


def _index_info(service: QAService) -> dict[str, Any]:
    index = service.require_index()
    return {
        "documents": len(index.documents),
        "passages": len(index.chunks),
        "model": index.model_name,
        "chunking": index.manifest["chunking"],
    }


def evaluate_seed_set(
    settings: Settings,
    embedder: Embedder,
    questions_path: Path,
    seeds: Path,
    methods: Sequence[str],
    command: str,
    progress: bool | None = None,
) -> EvalRun:
    """Score the question set on an index of ``seeds`` of its own (built on first use)."""
    seconds: dict[str, float] = {}
    service = evaluation_service(settings, embedder, "seeds", [seeds], seconds, progress=progress)
    index = service.require_index()
    texts = {d.doc_id: d.text for d in index.documents.values()}
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
                settings.chunk_size,
                settings.chunk_overlap,
                FORMAT_VERSION,
                # FAISS indexes keep the keys they had before there was a choice
                *([settings.vector_store] if settings.vector_store != "faiss" else []),
                # an ONNX graph exported anew (a changed export) gives other vectors
                *([export] if (export := getattr(embedder, "export", None)) else []),
            ]
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
    index_dir = evaluation_index_dir(settings, embedder, name, sources)
    settings = settings.model_copy(update={"index_dir": index_dir})
    backend = make_backend(settings)
    try:
        if rebuild:
            raise EvalError("rebuild requested")
        open_index(index_dir, embedder.name, embedder.dim, backend)
        seconds["index (reused)"] = round(time.perf_counter() - started, 1)
    except QAError:
        build_index(
            load_documents(sources),
            embedder,
            index_dir,
            settings.chunk_size,
            settings.chunk_overlap,
            progress=progress is not False,
            backend=backend,
        )
        seconds["index build"] = round(time.perf_counter() - started, 1)
    return QAService.start(settings, embedder)


def evaluate_beir(
    settings: Settings,
    embedder: Embedder,
    folder: Path,
    methods: Sequence[str],
    command: str,
    progress: bool | None = None,
    rebuild: bool = False,
) -> EvalRun:
    """Evaluate on a BEIR folder; its index is reused unless ``rebuild`` (or settings changed)."""
    started = time.perf_counter()
    bench = load_beir(folder)
    seconds: dict[str, float] = {}
    service = evaluation_service(
        settings, embedder, bench.name, [bench.corpus], seconds, rebuild, progress
    )
    query_started = time.perf_counter()
    runs = run_methods(service, bench.questions, methods, "document", progress)
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


# ----------------------------------------------------------------------------- report
def _fmt_row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(
        c.ljust(w) if i == 0 else c.rjust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )


def method_table(run: EvalRun) -> list[list[str]]:
    header = ["method", "n", *METRICS, "median ms", "p95 ms"]
    rows = [header]
    for r in run.runs:
        m = r.groups()["all"]
        med, p95 = r.latency()
        rows.append(
            [
                r.label,
                str(len(r.scored())),
                *(f"{m[k]:.3f}" for k in METRICS),
                f"{med:.1f}",
                f"{p95:.1f}",
            ]
        )
    return rows


def group_table(run: EvalRun) -> list[list[str]]:
    rows = [["method / group", "n", *METRICS]]
    named = {r.method for r in run.runs}
    for r in run.runs:
        if r.method == "default" and r.resolved in named:
            continue  # same figures as the row of the method it resolves to
        sizes = r.group_sizes()
        for group, m in r.groups().items():
            if group == "all":
                continue
            rows.append(
                [f"{r.label} / {group}", str(sizes[group]), *(f"{m[k]:.3f}" for k in METRICS)]
            )
    return rows


def calibration(run: MethodRun) -> dict[str, float] | None:
    """Top-1 scores of answerable vs. unanswerable questions (unanswerable scored apart)."""
    unanswerable = [o.top_score for o in run.outcomes if not o.question.answerable]
    if not unanswerable:
        return None
    hits = [o.top_score for o in run.scored() if o.judged.matches[:1] and o.judged.matches[0]]
    return {
        "unanswerable": len(unanswerable),
        "median_top_score_unanswerable": statistics.median(unanswerable),
        "max_top_score_unanswerable": max(unanswerable),
        "median_top_score_correct": statistics.median(hits) if hits else 0.0,
        "correct_below_max_unanswerable": sum(1 for s in hits if s <= max(unanswerable)),
        "correct": len(hits),
    }


def misses(run: MethodRun) -> list[dict[str, Any]]:
    out = []
    for o in run.scored():
        if o.judged.matches and o.judged.matches[0]:
            continue
        first_hit = next((i + 1 for i, m in enumerate(o.judged.matches) if m), None)
        got_id, got_text = o.returned[0] if o.returned else ("", "")
        expected = (
            [s for _, s in o.question.answers]
            if o.question.answers
            else sorted(o.question.relevant_docs)
        )
        out.append(
            {
                "id": o.question.qid,
                "lang": o.question.lang,
                "question": o.question.question,
                "expected": expected,
                "rank_of_first_relevant": first_hit,
                "returned_first": got_id,
                "returned_text": _normalise(got_text)[:160],
            }
        )
    return out


def render_text(run: EvalRun) -> str:
    lines = [
        f"{run.dataset} — {run.level} level; index: {run.index['documents']} documents, "
        f"{run.index['passages']} passages; {run.date}"
    ]
    for table in (method_table(run), group_table(run)):
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        lines += ["", *(_fmt_row(row, widths) for row in table)]
    lines.append("")
    lines.append("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in run.seconds.items()))
    for r in run.runs:
        cal = calibration(r)
        if cal:
            lines.append(
                f"unanswerable ({r.label}): {cal['unanswerable']} questions, median top-1 score "
                f"{cal['median_top_score_unanswerable']:.3f} (max "
                f"{cal['max_top_score_unanswerable']:.3f}) vs "
                f"{cal['median_top_score_correct']:.3f} for correct answers "
                f"({cal['correct_below_max_unanswerable']} of "
                f"{cal['correct']} correct answers score at or below that max)"
            )
    first = run.runs[0]
    missed = misses(first)
    lines += ["", f"missed at rank 1 by {first.label}: {len(missed)}"]
    for m in missed[:50]:
        rank = m["rank_of_first_relevant"]
        lines.append(f"- [{m['id']} {m['lang']}] {m['question']}")
        lines.append(
            f"    expected: {' | '.join(map(str, m['expected']))[:160]}"
            f"  (first relevant at rank {rank if rank else '>10'})"
        )
        lines.append(f"    got: {m['returned_first']}: {m['returned_text']}")
    if len(missed) > 50:
        lines.append(f"  … and {len(missed) - 50} more (see --json)")
    return "\n".join(lines)


def to_json(run: EvalRun) -> dict[str, Any]:
    return {
        "dataset": run.dataset,
        "level": run.level,
        "date": run.date,
        "machine": run.machine,
        "command": run.command,
        "index": run.index,
        "seconds": run.seconds,
        "methods": {
            r.label: {
                "n": len(r.scored()),
                "metrics": r.groups(),
                "group_sizes": r.group_sizes(),
                "latency_ms": dict(zip(("median", "p95"), r.latency(), strict=True)),
                "calibration": calibration(r),
                "missed_at_1": misses(r),
            }
            for r in run.runs
        },
    }
