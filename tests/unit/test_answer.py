"""The answer stage: an exact span of one document that answers the question, its
translation into the question's language, and no answer when the articles don't say."""

from __future__ import annotations

from qa.answer.spans import looks_like_heading
from qa.service import QAService


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
