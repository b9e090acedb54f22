"""The answer stage: an exact span of one document that answers the question, its
translation into the question's language, and no answer when the articles don't say."""

from __future__ import annotations

import pytest

from qa.answer import AnswerModel, choose
from qa.answer.answers import NOT_A_QUESTION
from qa.answer.features import asks_for, has_date, has_name, has_number, salient_tokens
from qa.answer.model import article_of, fold_of
from qa.answer.spans import looks_like_heading
from qa.service import QAService
from tests.helpers import HUANG_DOC


def test_the_answer_stage_can_be_skipped(service: QAService) -> None:
    reply = service.ask("what did Huang say about investors?", 5, with_answer=False)
    assert reply.answer is None and reply.candidate is None
    assert reply.result.hits and reply.language == "en"


def test_the_threshold_decides_whether_an_answer_is_given(service: QAService) -> None:
    strict = QAService(
        service.settings.model_copy(update={"answer_min_confidence": 1.0}), service.embedder
    )
    strict.collection = service.collection
    reply = strict.ask("what did Huang say about investors?", 5)
    assert reply.answer is None and reply.candidate is not None


def test_headlines_and_bylines_are_not_sentences() -> None:
    assert looks_like_heading("Jensen Huang aplaude a inovação de IA da DeepSeek", "Outro")
    assert looks_like_heading("– CEO da NVIDIA via Business Insider", "Outro")
    assert looks_like_heading("O título", "o título")
    assert not looks_like_heading("O R1 foi treinado com apenas 2.000 GPUs H800.", "Outro")


@pytest.mark.parametrize("question", ["???", "🤔", "   ...!  ", "¿?", "—"])
def test_input_with_no_letters_or_digits_gets_no_answer_and_says_so(
    service: QAService, question: str
) -> None:
    reply = service.ask(question, 3)
    assert reply.answer is None and reply.candidate is None
    assert reply.note == NOT_A_QUESTION


def test_a_question_in_a_language_no_translator_covers_says_so(service: QAService) -> None:
    """Any answer to a German question is the Portuguese sentence, named as such."""
    loose = QAService(
        service.settings.model_copy(update={"answer_min_confidence": 0.0}), service.embedder
    )
    loose.collection = service.collection
    reply = loose.ask("Was sagte Huang über die Investoren?", 5)
    assert reply.answer is not None and reply.answer.translation is None
    assert reply.answer.language == "pt"
    assert reply.answer.translation_note is not None
    assert "Portuguese to German" in reply.answer.translation_note


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("How many GPUs were used to train R1?", {"number"}),
        ("Quantas GPUs foram usadas?", {"number"}),
        ("¿Cuánto costó entrenar R1?", {"number"}),
        ("Wie viele GPUs?", {"number"}),
        ("有多少GPU？", {"number"}),
        ("Quem é o CEO da OpenAI?", {"person"}),
        ("Who founded DeepSeek?", {"person"}),
        ("Wann ist die Telefonkonferenz?", {"date"}),
        ("Quando será a teleconferência?", {"date"}),
        ("Onde fica a fábrica?", {"place"}),
        ("what did Huang say about investors?", {"statement"}),
        ("Why did the shares fall?", set()),
    ],
)
def test_what_a_question_asks_for(question: str, kinds: set[str]) -> None:
    assert asks_for(question) == kinds


def test_the_things_a_question_names() -> None:
    assert salient_tokens("How many GPUs were used to train R1 in 2024?") == {"gpus", "r1", "2024"}
    # the first word of a sentence is no name; accents and case fold away
    assert salient_tokens("Quem é o CEO da NVIDIA e da Nvídia?") == {"ceo", "nvidia"}
    assert salient_tokens("what did huang say?") == frozenset()
    assert has_number("gastou US$ 6 milhões") and has_number("dois bilhões")
    assert not has_number("Os investidores avaliaram mal a situação.")
    assert has_date("em 26 de fevereiro") and has_date("no ano de 2024")
    assert has_name("O CEO da NVIDIA, Jensen Huang, disse") and not has_name("Ele disse que sim.")


def test_a_question_belongs_to_the_fold_of_its_article() -> None:
    a = article_of("xquad_xling", "sq2pt-Normans-003")
    assert a == article_of("xquad_xling", "sq2pt-Normans-017") == "xquad_xling:sq2pt-Normans"
    assert article_of("seeds", HUANG_DOC) == f"seeds:{HUANG_DOC}"
    assert fold_of(a, 5) == fold_of(a, 5) and 0 <= fold_of(a, 5) < 5


def test_the_shipped_model_has_a_stage_per_fold_and_the_service_runs_the_full_one(
    service: QAService,
) -> None:
    model = AnswerModel.load()
    assert len(model.data["held_out"]) == model.folds
    assert service.models.answer_model.full.to_json() == model.full.to_json()
    stage = model.held_out("seeds:anything")
    assert set(stage.threshold) == {"translated", "untranslated"}
    assert all(0.0 < t < 1.0 for t in stage.threshold.values())
    reply = service.ask("what did Huang say about investors?", 5)
    assert reply.candidate is not None and reply.candidates is not None
    # the candidate the reply carries is the full stage's choice among its candidates
    assert choose(reply.candidates, model.full) == reply.candidate
