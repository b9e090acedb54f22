"""Standard IR metrics over one judged ranking: Hit@k, MRR@k, nDCG@k, Recall@k.

A :class:`Judged` ranking lists, for each returned item in rank order, the gold answers
it satisfies (empty when it is not relevant). This covers both granularities used here:

* document level (BEIR qrels): item = document, its answers = ``{doc_id}`` when relevant;
* passage level (the seed question set): item = passage, its answers = the gold
  snippets it contains.

Ranks are the list order: ties in score are broken by the retriever's order, never
re-sorted here. Gains are binary.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Judged:
    matches: tuple[frozenset[str], ...]
    """Per ranked item, the gold answers it satisfies."""
    n_answers: int
    """How many gold answers the question has (denominator of recall)."""
    n_relevant: int
    """How many relevant items exist in the collection (for the ideal DCG)."""


def hit_at(j: Judged, k: int) -> float:
    return 1.0 if any(j.matches[:k]) else 0.0


def reciprocal_rank(j: Judged, k: int) -> float:
    for i, m in enumerate(j.matches[:k]):
        if m:
            return 1.0 / (i + 1)
    return 0.0


def ndcg_at(j: Judged, k: int) -> float:
    dcg = sum(1.0 / math.log2(i + 2) for i, m in enumerate(j.matches[:k]) if m)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, j.n_relevant)))
    return dcg / ideal if ideal > 0 else 0.0


def recall_at(j: Judged, k: int) -> float:
    if j.n_answers == 0:
        return 0.0
    found: set[str] = set().union(*j.matches[:k]) if j.matches[:k] else set()
    return len(found) / j.n_answers


METRICS = {
    "Hit@1": lambda j: hit_at(j, 1),
    "Hit@3": lambda j: hit_at(j, 3),
    "Hit@5": lambda j: hit_at(j, 5),
    "MRR@10": lambda j: reciprocal_rank(j, 10),
    "nDCG@10": lambda j: ndcg_at(j, 10),
    "Recall@10": lambda j: recall_at(j, 10),
}


def mean_metrics(judged: Iterable[Judged]) -> dict[str, float]:
    """Mean of every metric in :data:`METRICS` over the queries."""
    items = list(judged)
    if not items:
        return dict.fromkeys(METRICS, 0.0)
    return {name: statistics.fmean(fn(j) for j in items) for name, fn in METRICS.items()}


def judge_documents(ranked_doc_ids: Sequence[str], relevant: Iterable[str]) -> Judged:
    """Judge a document ranking against a set of relevant document ids."""
    rel = frozenset(relevant)
    return Judged(
        tuple(frozenset({d}) if d in rel else frozenset() for d in ranked_doc_ids),
        n_answers=len(rel),
        n_relevant=len(rel),
    )


def collapse_to_documents(ranked: Iterable[tuple[str, float]]) -> list[str]:
    """Document ids in order of their best passage (first occurrence wins a tie)."""
    best: dict[str, tuple[float, int]] = {}
    for position, (doc_id, score) in enumerate(ranked):
        if doc_id not in best or score > best[doc_id][0]:
            best[doc_id] = (score, best.get(doc_id, (score, position))[1])
    return sorted(best, key=lambda d: (-best[d][0], best[d][1]))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 10
) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by their
    share of the predictions."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        held = which == b
        if held.any():
            total += held.mean() * abs(correct[held].mean() - confidence[held].mean())
    return float(total)


def reliability(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 10
) -> list[tuple[str, int, float, float]]:
    """Per confidence bin: its range, how many predictions fell in it, their mean
    confidence and the share that was right."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        held = which == b
        if held.any():
            rows.append(
                (
                    f"{edges[b]:.1f}–{edges[b + 1]:.1f}",
                    int(held.sum()),
                    float(confidence[held].mean()),
                    float(correct[held].mean()),
                )
            )
    return rows
