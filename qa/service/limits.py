"""What one request may ask: the limits the HTTP API and the command line share."""

from __future__ import annotations

MAX_QUESTION_CHARS = 2000
DEFAULT_TOP_K = 5
MAX_TOP_K = 50
MAX_FILTER_IDS = 1000  # documents one query's filter may name
MAX_FILTER_KEYS = 50  # metadata keys one query's filter may name


def clean_question(question: str) -> str:
    """``question`` stripped; :class:`ValueError` with a readable reason when it cannot be
    asked (not valid Unicode, no text, too long)."""
    try:
        question.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("question is not valid Unicode (it holds a lone surrogate)") from None
    if not "".join(c for c in question if c.isprintable()).strip():
        raise ValueError("question must contain text, not only whitespace or control characters")
    if len(question) > MAX_QUESTION_CHARS:
        raise ValueError(f"question must be at most {MAX_QUESTION_CHARS} characters")
    return question.strip()


def check_top_k(top_k: int) -> int:
    """``top_k``, or :class:`ValueError` when it is out of range."""
    if not 1 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be between 1 and {MAX_TOP_K}")
    return top_k
