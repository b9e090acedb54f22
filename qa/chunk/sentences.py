"""Sentence boundaries with exact offsets, and the sentences of passages.

A small regex splitter rather than a library: it must return exact character offsets and
know Portuguese abbreviations and number formats, which the packaged splitters looked at
do not both do. Splits after ``.``, ``!``, ``?``, ``…`` (not after an abbreviation, an
initial or a list marker) and at line breaks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Words that end with a period without ending a sentence (compared lower-case).
ABBREVIATIONS = frozenset(
    [
        "sr",
        "sra",
        "srs",
        "sras",
        "dr",
        "dra",
        "drs",
        "dras",
        "prof",
        "profa",
        "profs",
        "eng",
        "arq",
        "gen",
        "cel",
        "cap",
        "sgto",
        "av",
        "rua",
        "n",
        "nº",
        "no",
        "núm",
        "num",
        "art",
        "arts",
        "caps",
        "pág",
        "págs",
        "pag",
        "p",
        "pp",
        "vol",
        "vols",
        "ed",
        "eds",
        "fig",
        "figs",
        "tab",
        "ex",
        "obs",
        "aprox",
        "etc",
        "vs",
        "v",
        "cf",
        "ca",
        "inc",
        "ltd",
        "ltda",
        "co",
        "corp",
        "cia",
        "s.a",
        "mr",
        "mrs",
        "ms",
        "jr",
        "st",
        "mt",
        "dept",
        "univ",
        "est",
        "e.g",
        "i.e",
        "u.s",
        "u.k",
        "a.c",
        "d.c",
        "jan",
        "fev",
        "feb",
        "mar",
        "abr",
        "apr",
        "mai",
        "may",
        "jun",
        "jul",
        "ago",
        "aug",
        "set",
        "sep",
        "sept",
        "out",
        "oct",
        "nov",
        "dez",
        "dec",
    ]
)

_TERMINAL = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s)")
_STARTS_SENTENCE = re.compile(r"[\s]*[\"'“‘«(\[¿¡–—-]*[\w]")


def strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _is_boundary(text: str, line_start: int, punct_start: int, punct_end: int, end: int) -> bool:
    """Whether the terminal punctuation at ``text[punct_start:punct_end]`` ends a sentence."""
    nxt = _STARTS_SENTENCE.match(text, punct_end, end)
    if nxt is None:
        return False
    first = text[nxt.end() - 1]
    if not (first.isupper() or first.isdigit() or nxt.group().strip()):
        return False
    if text[punct_start] == ".":
        word = _word_start(text, line_start, punct_start)
        if word < punct_start:
            token = text[word:punct_start].lower()
            if token in ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
                return False
            # "1." or "a." opening a line is a list marker, not a sentence
            if len(token) <= 3 and not text[line_start:word].strip():
                return False
    return True


def _word_start(text: str, line_start: int, end: int) -> int:
    """Where the run of word characters and dots that ends at ``end`` starts (``end``: no
    such run): read backwards, so that the cost is the word's, not the text's."""
    start = end
    while start > line_start and (text[start - 1] in "._" or text[start - 1].isalnum()):
        start -= 1
    return start


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans of ``text[start:end]``: split after ., !, ?, … and at line breaks."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    line_start = start
    while line_start < end:
        nl = text.find("\n", line_start, end)
        line_end = end if nl == -1 else nl
        sent_start = line_start
        for m in _TERMINAL.finditer(text, line_start, line_end):
            if _is_boundary(text, line_start, m.start(), m.end(), line_end):
                spans.append(strip_span(text, sent_start, m.end()))
                sent_start = m.end()
        spans.append(strip_span(text, sent_start, line_end))
        line_start = line_end + 1
    return [(s, e) for s, e in spans if e > s]


MIN_SENTENCE_CHARS = 20  # shorter sentences (list markers, "Sim.") are not matched alone


@dataclass(frozen=True)
class Sentence:
    """A sentence of a document, and the ids of the passages holding it (overlapping
    passages share theirs)."""

    doc_id: str
    char_start: int
    char_end: int
    chunks: tuple[int, ...]
