from __future__ import annotations

import pytest

from qa.search import DenseRetriever, search
from tests.helpers import CANTOR_DOC, HUANG_DOC, HUANG_SAYS, original_text


@pytest.fixture(scope="module")
def hybrid(embedder, seed_index, settings, query_models):
    from qa.search import make_retriever

    return make_retriever("hybrid", embedder, settings, query_models)


def test_huang_question_in_english_finds_the_portuguese_passage(embedder, seed_index):
    dense = DenseRetriever(embedder)
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
    hits = search(DenseRetriever(embedder), seed_index, question, 3).hits
    assert any(h.chunk.doc_id == doc_id and phrase in h.chunk.text for h in hits), [
        h.chunk.chunk_id for h in hits
    ]


def test_hybrid_answers_the_huang_question_and_highlights_his_sentence(hybrid, seed_index):
    best = search(hybrid, seed_index, "what did Huang say about investors?", 5).hits[0]
    assert best.chunk.doc_id == HUANG_DOC
    start, end = best.highlight
    sentence = original_text(HUANG_DOC)[start:end]
    assert any(phrase in sentence for phrase in HUANG_SAYS), sentence
