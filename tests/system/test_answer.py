"""The answer stage: an exact span of one document that answers the question, its
translation into the question's language, and no answer when the articles don't say."""

from __future__ import annotations

import pytest

from qa.service import QAService
from tests.helpers import HUANG_DOC, original_text

ANSWERABLE = [
    (
        "what did Huang say about investors?",
        ("avaliaram mal a situação", "entenderam tudo errado", "equívocos predominantes"),
    ),
    ("How many GPUs were used to train R1?", ("2.000 GPUs H800",)),
    ("Quanto a DeepSeek realmente gasta em hardware?", ("US$ 1 bilhão",)),
    ("Wie viel hat das Training von R1 gekostet?", ("US$ 5 milhões", "US$ 6 milhões")),
]


@pytest.mark.parametrize(("question", "snippets"), ANSWERABLE)
def test_the_answer_is_an_exact_span_holding_the_answer(
    service: QAService, question: str, snippets: tuple[str, ...]
) -> None:
    reply = service.ask(question, 5)
    answer = reply.answer
    assert answer is not None, f"no answer (confidence {reply.candidate.confidence:.2f})"
    c = answer.citation
    assert original_text(c.doc_id)[c.char_start : c.char_end] == answer.text
    assert any(s in answer.text for s in snippets), answer.text
    assert 0.0 <= answer.confidence <= 1.0
    assert len(answer.text) < 600  # a sentence or two, not the passage


def test_an_english_question_gets_the_answer_in_english(service: QAService) -> None:
    answer = service.ask("what did Huang say about investors?", 5).answer
    assert answer is not None and answer.citation.doc_id == HUANG_DOC
    assert answer.translation is not None and answer.translation.lang == "en"
    assert "investor" in answer.translation.text.lower()


def test_a_portuguese_question_needs_no_translation(service: QAService) -> None:
    answer = service.ask("Quantas GPUs foram usadas para treinar o R1?", 5).answer
    assert answer is not None and answer.translation is None


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of Australia?",
        "Qual é a receita de bolo de cenoura?",
        "Who won the 1998 football world cup?",
    ],
)
def test_an_off_topic_question_gets_no_answer_but_still_passages(
    service: QAService, question: str
) -> None:
    reply = service.ask(question, 5)
    assert reply.answer is None and reply.note is not None
    assert reply.candidate is not None
    assert reply.candidate.confidence < reply.candidate.threshold
    assert len(reply.result.hits) == 5


HUANG_ON_INVESTORS = (
    "avaliaram mal a situação",
    "equívocos predominantes na comunidade de investimentos",
)


@pytest.mark.parametrize(
    "question",
    [
        "What did Huang say about investors?",
        "O que Huang disse sobre os investidores?",
        "¿Qué dijo Huang sobre los inversores?",
        "Was sagte Huang über die Investoren?",
        "Qu'a dit Huang à propos des investisseurs ?",
        "黄仁勋对投资者说了什么？",
        "ماذا قال هوانغ عن المستثمرين؟",
        "フアン氏は投資家について何と言いましたか？",
        "हुआंग ने निवेशकों के बारे में क्या कहा?",
    ],
)
def test_huang_on_investors_in_any_language_gets_his_sentence_or_no_answer(
    service: QAService, question: str
) -> None:
    """Never another sentence of the article given as the answer."""
    reply = service.ask(question, 5)
    if reply.answer is not None:
        assert any(s in reply.answer.text for s in HUANG_ON_INVESTORS), (
            reply.answer.text,
            reply.answer.confidence,
        )
