"""Step 8: the answer — the exact sentence (or two adjacent ones) of the best passages that
answers the question, its citation, a translation and a confidence."""

from qa.answer.answers import Answer, Citation, Reply, Translation, answer
from qa.answer.finder import AnswerFinder, Candidate, Signals

__all__ = [
    "Answer",
    "AnswerFinder",
    "Candidate",
    "Citation",
    "Reply",
    "Signals",
    "Translation",
    "answer",
]
