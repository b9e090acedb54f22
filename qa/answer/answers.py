"""The answer object of a reply: its exact text, the citation, a translation into the
question's language, and a confidence; ``None`` below the confidence threshold."""

from __future__ import annotations

from dataclasses import dataclass, field

from qa.answer.finder import AnswerFinder, Candidate
from qa.index import IndexView
from qa.search import SearchResult
from qa.search.translation import Translator


@dataclass(frozen=True)
class Citation:
    doc_id: str
    title: str
    source: str
    char_start: int
    char_end: int


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


@dataclass(frozen=True)
class Reply:
    """What a question gets: the passages, the question's language, and the answer (``None``
    when the answer stage was skipped or is not sure enough)."""

    result: SearchResult
    language: str
    answer: Answer | None = None
    candidate: Candidate | None = None  # the best answer found, whatever its confidence
    took_ms: float = 0.0  # search and answer
    stages_ms: dict[str, float] = field(default_factory=dict)  # embed, retrieve, answer


def answer(
    index: IndexView,
    result: SearchResult,
    finder: AnswerFinder,
    translator: Translator | None,
    min_confidence: float,
) -> Reply:
    """The reply to ``result``'s question: its best answer when it reaches
    ``min_confidence``, translated into the question's language when it differs from the
    collection's and ``translator`` covers the pair."""
    language = finder.language(result)
    candidate = finder.find(index, result)
    if candidate is None or candidate.confidence < min_confidence:
        return Reply(result, language, None, candidate)
    document = index.documents[candidate.doc_id]
    text = document.text[candidate.char_start : candidate.char_end]
    translation = None
    if translator is not None and language != index.language:
        translated = translator.translate(text, index.language, language)
        translation = Translation(language, translated) if translated else None
    citation = Citation(
        document.doc_id, document.title, document.source, candidate.char_start, candidate.char_end
    )
    found = Answer(text, citation, translation, round(candidate.confidence, 4), candidate.kind)
    return Reply(result, language, found, candidate)
