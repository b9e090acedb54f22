"""Metrics against hand-computed values."""

from __future__ import annotations

import math

import pytest

from qa.eval.metrics import (
    Judged,
    collapse_to_documents,
    hit_at,
    judge_documents,
    mean_metrics,
    ndcg_at,
    percentile,
    recall_at,
    reciprocal_rank,
)

R, N = frozenset({"x"}), frozenset()


def test_single_relevant_item_at_rank_three():
    j = Judged((N, N, R, N), n_answers=1, n_relevant=1)
    assert (hit_at(j, 1), hit_at(j, 3), hit_at(j, 5)) == (0.0, 1.0, 1.0)
    assert reciprocal_rank(j, 10) == pytest.approx(1 / 3)
    assert reciprocal_rank(j, 2) == 0.0
    assert ndcg_at(j, 10) == pytest.approx(1 / math.log2(4))  # 0.5
    assert recall_at(j, 10) == 1.0 and recall_at(j, 2) == 0.0


def test_several_relevant_documents():
    j = judge_documents(["x", "a", "y", "c"], {"a", "b", "c"})
    assert hit_at(j, 1) == 0.0 and hit_at(j, 3) == 1.0
    assert reciprocal_rank(j, 10) == 0.5
    assert recall_at(j, 10) == pytest.approx(2 / 3)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at(j, 10) == pytest.approx(dcg / ideal)  # 1.06161 / 2.13093
    assert ndcg_at(j, 10) == pytest.approx(0.498189, abs=1e-6)


def test_perfect_and_empty_rankings():
    perfect = judge_documents(["a", "b"], {"a", "b"})
    assert ndcg_at(perfect, 10) == 1.0 and recall_at(perfect, 10) == 1.0
    nothing = judge_documents(["x", "y"], {"a"})
    assert (hit_at(nothing, 5), reciprocal_rank(nothing, 10), ndcg_at(nothing, 10)) == (0, 0, 0)
    empty = judge_documents([], {"a"})
    assert mean_metrics([empty]) == dict.fromkeys(mean_metrics([empty]), 0.0)


def test_passage_that_holds_two_gold_snippets_counts_both_for_recall():
    j = Judged((frozenset({"0", "1"}), N), n_answers=3, n_relevant=2)
    assert recall_at(j, 1) == pytest.approx(2 / 3)
    # nDCG: one relevant passage at rank 1, two relevant passages exist
    assert ndcg_at(j, 10) == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_more_relevant_items_than_the_cutoff():
    j = Judged((R,) * 10, n_answers=1, n_relevant=25)
    assert ndcg_at(j, 10) == 1.0


def test_ties_keep_the_retrievers_order():
    # a and b tie at 0.9: a came first, so it ranks first; c is best overall
    assert collapse_to_documents([("a", 0.9), ("b", 0.9), ("a", 0.5), ("c", 0.95)]) == [
        "c",
        "a",
        "b",
    ]
    # a later, better passage raises its document but keeps its first position for ties
    assert collapse_to_documents([("a", 0.5), ("b", 0.7), ("a", 0.7)]) == ["a", "b"]
    j = judge_documents(collapse_to_documents([("a", 0.9), ("b", 0.9)]), {"b"})
    assert reciprocal_rank(j, 10) == 0.5


def test_mean_over_queries():
    m = mean_metrics([judge_documents(["a"], {"a"}), judge_documents(["x", "a"], {"a"})])
    assert m["Hit@1"] == 0.5 and m["MRR@10"] == pytest.approx(0.75)


def test_percentile_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 50) == 50 and percentile(values, 95) == 95
    assert percentile([3.0], 95) == 3.0 and percentile([], 50) == 0.0
