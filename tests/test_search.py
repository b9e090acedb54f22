from __future__ import annotations

import pytest

from qa.search import DenseRetriever, LexicalRetriever, search

from .conftest import CANTOR_DOC, HUANG_DOC, original_text

HUANG_SAYS = ("avaliaram mal a situação", "entenderam tudo errado")


def test_huang_question_in_english_finds_the_portuguese_passage(embedder, seed_index):
    dense = DenseRetriever(embedder, seed_index)
    answer = search(dense, seed_index, "what did Huang say about investors?", 5)
    best = answer.hits[0]
    assert best.chunk.doc_id == HUANG_DOC
    assert any(phrase in best.chunk.text for phrase in HUANG_SAYS)
    original = original_text(HUANG_DOC)
    assert original[best.chunk.char_start : best.chunk.char_end] == best.chunk.text


@pytest.mark.parametrize(
    "question, doc_id, phrase",
    [
        (
            "¿Cuánto costó entrenar el modelo R1 según Cantor Fitzgerald?",
            CANTOR_DOC,
            "US$ 6 milhões",
        ),
        ("Quand aura lieu la conférence de résultats de NVIDIA ?", HUANG_DOC, "26 de fevereiro"),
        ("Was ist das Jevons-Paradoxon?", CANTOR_DOC, "Paradoxo de Jevons"),
        ("Quantas GPUs H800 foram usadas para treinar o R1?", CANTOR_DOC, "2.000 GPUs H800"),
        ("How much hardware does DeepSeek really use?", HUANG_DOC, "US$ 1 bilhão"),
    ],
)
def test_questions_in_other_languages(embedder, seed_index, question, doc_id, phrase):
    hits = search(DenseRetriever(embedder, seed_index), seed_index, question, 3).hits
    assert any(h.chunk.doc_id == doc_id and phrase in h.chunk.text for h in hits), [
        h.chunk.chunk_id for h in hits
    ]


def test_results_are_ranked_unique_and_cut_at_top_k(embedder, seed_index):
    for k in (1, 3, 50):
        answer = search(DenseRetriever(embedder, seed_index), seed_index, "NVIDIA market value", k)
        assert len(answer.hits) == min(k, len(seed_index.chunks))
        assert [h.rank for h in answer.hits] == list(range(1, len(answer.hits) + 1))
        scores = [h.score for h in answer.hits]
        assert scores == sorted(scores, reverse=True)
        assert len({h.chunk.chunk_id for h in answer.hits}) == len(answer.hits)
        assert answer.took_ms > 0


def test_bm25_finds_portuguese_words_and_nothing_for_foreign_ones(seed_index):
    bm25 = LexicalRetriever(seed_index)
    hits = search(bm25, seed_index, "Quantas GPUs H800 treinaram o R1?", 3).hits
    assert "2.000 GPUs H800" in hits[0].chunk.text
    # stemming: "investidor" matches "investidores"
    assert search(bm25, seed_index, "investidor", 1).hits[0].chunk.doc_id == HUANG_DOC
    # no shared word, no result (an English function-word question)
    assert search(bm25, seed_index, "what is it about?", 5).hits == []
