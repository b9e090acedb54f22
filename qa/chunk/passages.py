"""Split documents into sentence-aware passages that keep exact offsets.

Every :class:`Chunk` satisfies ``document.text[chunk.char_start:chunk.char_end] == chunk.text``.
Passages never cross a dropped paragraph (boilerplate, a repeated title), end on a
sentence boundary where they can, repeat up to ``overlap`` characters of whole
sentences from the previous passage, and keep a heading with the text it introduces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qa.chunk.sentences import MIN_SENTENCE_CHARS, Sentence, sentence_spans, strip_span
from qa.ingest import Document


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    text: str
    char_start: int
    char_end: int


def _hard_split(text: str, start: int, end: int, size: int) -> list[tuple[int, int]]:
    """Cut a span longer than ``size`` at whitespace (or anywhere, if it has none)."""
    pieces: list[tuple[int, int]] = []
    while end - start > size:
        cut = text.rfind(" ", start + 1, start + size + 1)
        if cut <= start:
            cut = start + size
        pieces.append(strip_span(text, start, cut))
        start = strip_span(text, cut, end)[0]
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


def chunk_document(doc: Document, size: int, overlap: int) -> list[Chunk]:
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


def passage_sentences(chunks: Sequence[Chunk], ids: Sequence[int]) -> list[Sentence]:
    """The distinct sentences of at least ``MIN_SENTENCE_CHARS`` characters of ``chunks``,
    whose ids are ``ids``."""
    holders: dict[tuple[str, int, int], list[int]] = {}
    for cid, chunk in zip(ids, chunks, strict=True):
        for start, end in sentence_spans(chunk.text):
            if end - start >= MIN_SENTENCE_CHARS:
                key = (chunk.doc_id, chunk.char_start + start, chunk.char_start + end)
                holders.setdefault(key, []).append(int(cid))
    return [Sentence(d, s, e, tuple(rows)) for (d, s, e), rows in holders.items()]
