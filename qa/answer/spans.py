"""Candidate answers: the sentences of the best passages (and runs of two adjacent ones),
each an exact span of its document, and what makes a line no answer (headings, bylines).

Trimming a long sentence to the clause holding the question's terms was measured and
dropped: it lost more gold answers than it shortened (measured on the seed set and
faquad_pt when the answer stage was first calibrated)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.index import IndexView
from qa.search import Hit

HEADING_WORDS = 25  # a line without closing punctuation and at most this many words
_CLOSING = re.compile(r"[.!?…:;\"'”»)\]]\s*$")


def looks_like_heading(text: str, title: str) -> bool:
    """A title, headline or byline rather than a sentence of the article."""
    if text.strip().casefold() == title.strip().casefold():
        return True
    return not _CLOSING.search(text) and len(text.split()) <= HEADING_WORDS


def sentence_ranks(index: IndexView, hits: Sequence[Hit]) -> dict[int, int]:
    """Every sentence of the hits (overlapping passages share sentences), with the rank
    (0 = best) of the best passage holding it, in document order within a passage."""
    ranks: dict[int, int] = {}
    for rank, hit in enumerate(hits):
        for sid in index.chunk_sentences.get(hit.row, ()):
            ranks.setdefault(sid, rank)
    return ranks
