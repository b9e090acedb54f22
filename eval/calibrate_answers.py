"""Tune and calibrate the answer stage (qa/answer/finder.py) on real questions.

Answerable questions: the seed set's, and samples of faquad_pt, pira_xling and xquad_xling
(every language). Questions the collection cannot answer: one benchmark's questions asked
against another's corpus (faquad_pt -> seeds and xquad_xling; pira_xling -> faquad_pt;
xquad_xling -> faquad_pt), and the seed set's unanswerable (near-topic) ones.

Prints the answer accuracy of the candidate scoring, fits the confidence's logistic
weights (answerable = 1, off-topic = 0) and the threshold that keeps >= 95% of answerable
seed questions answered, with the rates each set then gets. The printed constants are what
``qa/answer/finder.py`` and ``QA_ANSWER_MIN_CONFIDENCE`` state.

    python eval/calibrate_answers.py [--per-set 200] [--grid]
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.answer import AnswerFinder, Candidate  # noqa: E402
from qa.answer import finder as finder_module  # noqa: E402
from qa.core.config import Settings  # noqa: E402
from qa.embed import load_embedder  # noqa: E402
from qa.eval.datasets import Question, load_beir, load_question_set  # noqa: E402
from qa.eval.runner import evaluation_service, highlight_answers  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.search import SearchResult, search  # noqa: E402
from qa.service import QAService  # noqa: E402

BENCHMARKS = ROOT.parent / "shared" / "benchmarks"


@dataclass
class Asked:
    question: Question
    answerable: bool
    index: Index
    result: SearchResult
    candidate: Candidate | None = None

    @property
    def correct(self) -> bool:
        c = self.candidate
        if c is None or not self.answerable:
            return False
        text = self.index.documents[c.doc_id].text[c.char_start : c.char_end]
        return self.question.answered_by(c.doc_id, text)


def ask_all(service: QAService, questions: Sequence[Question], answerable: bool) -> list[Asked]:
    retriever = service.retriever()
    out = []
    with service.snapshot() as index:
        for q in questions:
            out.append(Asked(q, answerable, index, search(retriever, index, q.question, 10)))
    return out


def sample(questions: Sequence[Question], n: int, seed: int = 7) -> list[Question]:
    questions = list(questions)
    random.Random(seed).shuffle(questions)
    return questions[:n]


def stratified(questions: Sequence[Question], n: int) -> list[Question]:
    """About ``n`` questions, the same number in every language."""
    langs = sorted({q.lang for q in questions})
    per = max(1, n // len(langs))
    return [q for lang in langs for q in sample([q for q in questions if q.lang == lang], per)]


def find_all(sets: dict[str, list[Asked]], finder: AnswerFinder) -> None:
    for asked in sets.values():
        for a in asked:
            a.candidate = finder.find(a.index, a.result)


def accuracy(asked: Sequence[Asked]) -> float:
    return sum(a.correct for a in asked) / max(1, len(asked))


def baseline(asked: Sequence[Asked]) -> float:
    """How often the rank-1 passage's highlight holds a gold answer."""
    good = sum(highlight_answers(a.question, a.result.hits) for a in asked)
    return good / max(1, len(asked))


def features(a: Asked) -> list[float]:
    return list(a.candidate.signals.features()) if a.candidate else [0.0] * 5


def fit_logistic(x: np.ndarray, y: np.ndarray, steps: int = 20000) -> tuple[np.ndarray, float]:
    """Weights and bias of a logistic regression (classes weighted equally), in the
    original units of ``x``."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / std
    w, b = np.zeros(x.shape[1]), 0.0
    sample_w = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        g = (p - y) * sample_w
        w -= 0.1 * (z.T @ g / len(y) + 1e-3 * w)
        b -= 0.1 * g.mean()
    return w / std, b - float((w / std) @ mean)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-set", type=int, default=200)
    parser.add_argument("--grid", action="store_true", help="search the scoring constants")
    args = parser.parse_args()
    settings = Settings()
    embedder = load_embedder(settings)
    seconds: dict[str, float] = {}

    def service(name: str) -> QAService:
        if name == "seeds":
            return evaluation_service(settings, embedder, "seeds", [ROOT / "seeds"], seconds)
        corpus = load_beir(BENCHMARKS / name).corpus
        return evaluation_service(settings, embedder, name, [corpus], seconds)

    seeds, faquad, pira, xquad = (
        service(n) for n in ("seeds", "faquad_pt", "pira_xling", "xquad_xling")
    )
    texts = {d.doc_id: d.text for d in seeds.documents()}
    seed_qs = load_question_set(ROOT / "eval" / "questions.jsonl", texts)
    fq = load_beir(BENCHMARKS / "faquad_pt").questions
    pq = load_beir(BENCHMARKS / "pira_xling").questions
    xq = load_beir(BENCHMARKS / "xquad_xling").questions
    n = args.per_set
    sets = {
        "seeds answerable": ask_all(seeds, [q for q in seed_qs if q.answerable], True),
        "seeds near-topic": ask_all(seeds, [q for q in seed_qs if not q.answerable], False),
        "faquad_pt": ask_all(faquad, sample(fq, n), True),
        "pira_xling": ask_all(pira, stratified(pq, n), True),
        "xquad_xling": ask_all(xquad, stratified(xq, 2 * n), True),
        "off: faquad -> seeds": ask_all(seeds, sample(fq, n, 1), False),
        "off: faquad -> xquad": ask_all(xquad, sample(fq, n, 2), False),
        "off: pira -> faquad": ask_all(faquad, stratified(sample(pq, 10**6, 3), n), False),
        "off: xquad -> faquad": ask_all(faquad, stratified(sample(xq, 10**6, 4), 2 * n), False),
    }
    accuracy_sets = ("seeds answerable", "faquad_pt", "xquad_xling")
    print("rank-1 highlight: " + " ".join(f"{baseline(sets[k]):.3f}" for k in accuracy_sets))
    if args.grid:
        grid = itertools.product(
            (0.08, 0.1, 0.15), (0.01, 0.02, 0.03, 0.04), (0.05, 0.1), (0.01, 0.02)
        )
        for lex, rank, head, pair in grid:
            finder_module.WEIGHT_LEXICAL, finder_module.WEIGHT_RANK = lex, rank
            finder_module.HEADING_PENALTY, finder_module.PAIR_COST = head, pair
            find_all(sets, AnswerFinder(embedder, seeds.finder.detector))
            accs = [accuracy(sets[k]) for k in accuracy_sets]
            print(
                f"lex={lex} rank={rank} head={head} pair={pair}: "
                + " ".join(f"{a:.3f}" for a in accs),
                flush=True,
            )
        return
    find_all(sets, seeds.finder)
    for name, asked in sets.items():
        if asked[0].answerable:
            print(f"{name:24} answer accuracy {accuracy(asked):.3f} ({len(asked)} questions)")
    on = [a for k, v in sets.items() if not k.startswith("seeds") for a in v if a.answerable]
    on += sets["seeds answerable"]
    off = [a for k, v in sets.items() if k.startswith("off") for a in v]
    x = np.array([features(a) for a in on + off])
    y = np.array([1.0] * len(on) + [0.0] * len(off))
    w, b = fit_logistic(x, y)
    print(f"CONFIDENCE_WEIGHTS = ({', '.join(f'{v:.2f}' for v in w)})")
    print(f"CONFIDENCE_BIAS = {b:.2f}")

    def conf(a: Asked) -> float:
        return float(1 / (1 + np.exp(-(np.array(features(a)) @ w + b))))

    current = finder_module.CONFIDENCE_WEIGHTS, finder_module.CONFIDENCE_BIAS
    print(f"with the current weights {current} at QA_ANSWER_MIN_CONFIDENCE:")
    threshold = Settings().answer_min_confidence
    for name, asked in sets.items():
        given = sum(a.candidate is not None and a.candidate.confidence >= threshold for a in asked)
        rate = given / len(asked) if asked[0].answerable else 1 - given / len(asked)
        print(f"  {name:32} {'answered' if asked[0].answerable else 'null'} {rate:.3f}")
    seed_conf = sorted(conf(a) for a in sets["seeds answerable"])
    highest = seed_conf[int(0.05 * len(seed_conf))]  # keeps >= 95% of seed questions answered
    print(f"highest threshold answering 95% of the seed set: {highest:.3f}")
    thresholds = (0.3, 0.4, 0.5, 0.6, 0.7, float(np.floor(highest * 100) / 100))
    print(f"{'answered (null for off-topic) at':34}" + "".join(f"{t:>7.2f}" for t in thresholds))
    for name, asked in sets.items():
        rates = []
        for t in thresholds:
            answered = sum(conf(a) >= t for a in asked) / len(asked)
            rates.append(answered if asked[0].answerable else 1 - answered)
        print(f"{name:34}" + "".join(f"{r:>7.3f}" for r in rates))


if __name__ == "__main__":
    main()
