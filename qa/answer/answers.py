"""The answer object of a reply: its exact text, the citation, a translation into the
question's language (or why there is none), and a confidence; ``None``, with the reason,
when the question is no question or the articles don't say."""

from __future__ import annotations

from dataclasses import dataclass, field

from qa.answer.finder import AnswerFinder, Candidate, Candidates, choose
from qa.answer.model import Stage
from qa.index import IndexView
from qa.ingest.language import language_name
from qa.search import SearchResult
from qa.search.translation import Translator

NOT_A_QUESTION = "The question has no letters or digits: there is nothing to answer."
NOT_SAID = "The articles don't say: no sentence of the closest passages answers it surely enough."


@dataclass(frozen=True)
class Citation:
    doc_id: str
    title: str
    source: str
    char_start: int
    char_end: int
    pages: list[int] | None = None  # the pages (or slides) the span lies on, if paginated


@dataclass(frozen=True)
class Translation:
    lang: str
    text: str


@dataclass(frozen=True)
class Answer:
    text: str  # == the cited document's text[char_start:char_end]
    citation: Citation
    translation: Translation | None
    confidence: float
    kind: str  # "sentence" or "pair"
    language: str = ""  # the answer's own language (the collection's)
    translation_note: str | None = None  # why there is no translation, when there is none


@dataclass(frozen=True)
class Reply:
    """What a question gets: the passages, the question's language, and the answer (``None``
    when the answer stage was skipped, the question is no question, or the articles don't
    say: ``note`` says which)."""

    result: SearchResult
    language: str
    answer: Answer | None = None
    candidate: Candidate | None = None  # the best answer found, whatever its confidence
    candidates: Candidates | None = None  # every candidate, described (for evaluations)
    took_ms: float = 0.0  # search and answer
    stages_ms: dict[str, float] = field(default_factory=dict)  # embed, retrieve, answer
    note: str | None = None  # why there is no answer


def is_a_question(text: str) -> bool:
    """Whether ``text`` holds a letter or a digit, in any script."""
    return any(c.isalnum() for c in text)


def answer(
    index: IndexView,
    result: SearchResult,
    finder: AnswerFinder,
    translator: Translator | None,
    stage: Stage,
    min_confidence: float | None = None,
) -> Reply:
    """The reply to ``result``'s question: the answer ``stage`` chooses when its confidence
    reaches the stage's threshold (or ``min_confidence``), translated into the question's
    language when that differs from the collection's and ``translator`` covers the pair."""
    language = finder.language(result)
    if not is_a_question(result.question):
        return Reply(result, language, note=NOT_A_QUESTION)
    found = finder.candidates(index, result)
    candidate = choose(found, stage) if found is not None else None
    if candidate is None or candidate.confidence < (
        candidate.threshold if min_confidence is None else min_confidence
    ):
        return Reply(result, language, None, candidate, found, note=NOT_SAID)
    document = index.documents[candidate.doc_id]
    text = document.text[candidate.char_start : candidate.char_end]
    translation, note = None, None
    if language != index.language:
        if translator is not None and translator.supports(index.language, language):
            translated = translator.translate(text, index.language, language)
            translation = Translation(language, translated) if translated else None
        if translation is None:
            note = (
                f"No offline translator covers {language_name(index.language)} to "
                f"{language_name(language)}: the answer is the article's sentence, in "
                f"{language_name(index.language)}."
            )
    start, end = candidate.char_start, candidate.char_end
    citation = Citation(
        document.doc_id, document.title, document.source, start, end, document.pages_of(start, end)
    )
    found_answer = Answer(
        text,
        citation,
        translation,
        round(candidate.confidence, 4),
        candidate.kind,
        index.language,
        note,
    )
    return Reply(result, language, found_answer, candidate, found)
