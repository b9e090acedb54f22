"""Split documents into sentence-aware passages that keep exact offsets.

Every :class:`Chunk` satisfies ``document.text[chunk.char_start:chunk.char_end] == chunk.text``.
Passages never cross a dropped paragraph (boilerplate, a repeated title), end on a
sentence boundary where they can, repeat up to ``overlap`` characters of whole
sentences from the previous passage, and keep a heading with the text it introduces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.ingest import Document

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
        "cap",
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
        "sr",
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
_WORD_BEFORE = re.compile(r"([\w.]+)[.]$")


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    text: str
    char_start: int
    char_end: int


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
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
        word = _WORD_BEFORE.search(text, 0, punct_start + 1)
        if word is not None:
            token = word.group(1).lower()
            if token in ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
                return False
            # "1." or "a." opening a line is a list marker, not a sentence
            if len(token) <= 3 and not text[line_start : word.start()].strip():
                return False
    return True


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
                spans.append(_strip_span(text, sent_start, m.end()))
                sent_start = m.end()
        spans.append(_strip_span(text, sent_start, line_end))
        line_start = line_end + 1
    return [(s, e) for s, e in spans if e > s]


def _hard_split(text: str, start: int, end: int, size: int) -> list[tuple[int, int]]:
    """Cut a span longer than ``size`` at whitespace (or anywhere, if it has none)."""
    pieces: list[tuple[int, int]] = []
    while end - start > size:
        cut = text.rfind(" ", start + 1, start + size + 1)
        if cut <= start:
            cut = start + size
        pieces.append(_strip_span(text, start, cut))
        start = _strip_span(text, cut, end)[0]
    pieces.append((start, end))
    return [(s, e) for s, e in pieces if e > s]


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    heading: bool  # a whole short paragraph without final punctuation


def _regions(doc: Document) -> list[list[tuple[int, int]]]:
    """Runs of consecutive indexed paragraphs (only whitespace between them)."""
    regions: list[list[tuple[int, int]]] = []
    prev_end: int | None = None
    for start, end in doc.segments:
        if prev_end is not None and not doc.text[prev_end:start].strip():
            regions[-1].append((start, end))
        else:
            regions.append([(start, end)])
        prev_end = end
    return regions


def _units(doc: Document, region: list[tuple[int, int]], size: int) -> list[_Unit]:
    text = doc.text
    units: list[_Unit] = []
    for p_start, p_end in region:
        sentences = sentence_spans(text, p_start, p_end)
        heading = (
            len(sentences) == 1 and p_end - p_start <= 150 and text[p_end - 1] not in ".!?…:;,"
        )
        for s_start, s_end in sentences:
            for a, b in _hard_split(text, s_start, s_end, size):
                units.append(_Unit(a, b, heading))
    return units


def _pack(units: list[_Unit], size: int, overlap: int) -> list[tuple[int, int]]:
    """Greedy packing of units into spans of at most ``size`` characters, with overlap."""
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j = i
        while j + 1 < len(units) and units[j + 1].end - units[i].start <= size:
            j += 1
        # Do not end a passage on a heading that introduces the next one.
        while j > i and j + 1 < len(units) and units[j].heading:
            j -= 1
        spans.append((units[i].start, units[j].end))
        if j + 1 >= len(units):
            break
        # Next passage starts with the last whole sentences fitting in ``overlap``.
        k = j + 1
        while (
            k - 1 > i
            and units[j].end - units[k - 1].start <= overlap
            and units[j + 1].end - units[k - 1].start <= size
            and not units[k - 1].heading
        ):
            k -= 1
        i = k
    return spans


def chunk_document(doc: Document, size: int = 700, overlap: int = 150) -> list[Chunk]:
    """Split ``doc`` into passages of at most ``size`` characters."""
    if overlap >= size:
        raise ValueError("overlap must be smaller than size")
    chunks: list[Chunk] = []
    for region in _regions(doc):
        for start, end in _pack(_units(doc, region, size), size, overlap):
            chunks.append(
                Chunk(
                    chunk_id=f"{doc.doc_id}#{len(chunks)}",
                    doc_id=doc.doc_id,
                    text=doc.text[start:end],
                    char_start=start,
                    char_end=end,
                )
            )
    return chunks
