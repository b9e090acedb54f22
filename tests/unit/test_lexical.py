"""BM25 against bm25s itself, and updates that equal a fresh build."""

from __future__ import annotations

import bm25s
import pytest

from qa.index import lexical
from qa.index.lexical import K1, B, BM25Index
from tests.helpers import CANTOR_DOC, HUANG_DOC, original_text


def passages() -> list[str]:
    text = original_text(HUANG_DOC) + "\n\n" + original_text(CANTOR_DOC)
    return [p.strip() for p in text.split("\n\n") if len(p.strip()) > 30]


QUESTIONS = [
    "O que Huang disse sobre os investidores?",
    "Paradoxo de Jevons e consumo de recursos",
    "custo de treinamento do R1 da DeepSeek",
    "Citi Bernstein otimismo NVIDIA",
    "NVIDIA NVIDIA NVIDIA",
]


def test_scores_match_bm25s():
    texts = passages()
    ours = BM25Index.build(enumerate(texts), "pt")
    reference = bm25s.BM25(k1=K1, b=B)
    reference.index(ours.terms_of.tokens(texts), show_progress=False)
    for question in QUESTIONS:
        ids, scores = reference.retrieve(
            ours.terms_of.tokens([question]), k=len(texts), show_progress=False
        )
        expected = {int(i): float(s) for i, s in zip(ids[0], scores[0], strict=True) if s > 0}
        got = dict(ours.search(question, len(texts)))
        assert got.keys() == expected.keys(), question
        for i, score in expected.items():
            assert got[i] == pytest.approx(score, rel=1e-5), question


@pytest.mark.parametrize("merge_min", [100_000, 1])
def test_add_and_remove_equal_a_fresh_build(monkeypatch, merge_min):
    """With postings in the buffers, and merged into the arrays after every add."""
    monkeypatch.setattr(lexical, "MERGE_MIN", merge_min)
    texts = passages()
    grown = BM25Index.build(enumerate(texts[:5]), "pt")
    grown.add((i, t) for i, t in enumerate(texts) if i >= 5)
    grown.remove(range(0, len(texts), 3))
    for question in QUESTIONS:
        grown.search(question, 5)  # fills the posting caches, which removal must refresh
    grown.remove(range(1, len(texts), 3))
    kept = [(i, t) for i, t in enumerate(texts) if i % 3 == 2]
    fresh = BM25Index.build(kept, "pt")
    for question in QUESTIONS:
        got, want = grown.search(question, 10), fresh.search(question, 10)
        assert [i for i, _ in got] == [i for i, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-5)
        assert all(i % 3 == 2 for i, _ in got)


def test_an_id_given_again_replaces_its_passage_and_ids_stay_exact():
    texts = passages()
    index = BM25Index.build(enumerate(texts), "pt")
    index.add([(0, "Huang falou sobre os investidores da NVIDIA")])
    index.remove([1])
    index.add([(1, "os investidores da NVIDIA")])  # an id that was removed, given again
    assert len(index) == len(texts) and 1 in index and len(texts) not in index
    fresh = BM25Index.build(
        [
            (0, "Huang falou sobre os investidores da NVIDIA"),
            (1, "os investidores da NVIDIA"),
            *list(enumerate(texts))[2:],
        ],
        "pt",
    )
    for question in [*QUESTIONS, "investidores Huang"]:
        got, want = index.search(question, 10), fresh.search(question, 10)
        assert [i for i, _ in got] == [i for i, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-5)
    assert index.idf("investidor") == pytest.approx(fresh.idf("investidor"))
    assert index.passage_ids().tolist() == list(range(len(texts)))


def test_filter_mask_and_unknown_language():
    texts = passages()
    index = BM25Index.build(enumerate(texts), "pt")
    allowed = [False] * len(texts)
    allowed[3] = True
    import numpy as np

    hits = index.search("NVIDIA DeepSeek", 10, np.array(allowed))
    assert [i for i, _ in hits] in ([3], [])
    with pytest.raises(ValueError, match="unsupported BM25 language 'xx'"):
        BM25Index("xx")
