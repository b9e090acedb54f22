"""Step 8: the answer — the exact sentence (or two adjacent ones) of the best passages that
answers the question, its citation, a translation and a confidence, chosen and weighed by
a model fitted on questions split by article (:mod:`model`)."""

from qa.answer.answers import Answer, Citation, Reply, Translation, answer, is_a_question
from qa.answer.finder import AnswerFinder, Candidate, Candidates, choose
from qa.answer.model import AnswerModel, Stage

__all__ = [
    "Answer",
    "AnswerFinder",
    "AnswerModel",
    "Candidate",
    "Candidates",
    "Citation",
    "Reply",
    "Stage",
    "Translation",
    "answer",
    "choose",
    "is_a_question",
]
