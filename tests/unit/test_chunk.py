from __future__ import annotations

import json
import re
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.chunk import chunk_document, sentence_spans
from qa.chunk.sentences import _word_start
from qa.core.errors import IngestError
from qa.ingest import Document, load_documents, make_text_document
from tests.helpers import benchmark, original_text


def assert_chunking_invariants(doc: Document, size: int, overlap: int) -> None:
    chunks = chunk_document(doc, size, overlap)
    assert [c.chunk_id for c in chunks] == [f"{doc.doc_id}#{i}" for i in range(len(chunks))]
    covered = bytearray(len(doc.text))
    for c in chunks:
        # exact citation: the offsets slice the original text to the passage
        assert doc.text[c.char_start : c.char_end] == c.text
        assert c.text and c.text == c.text.strip()
        assert len(c.text) <= size
        # a passage lies inside one run of indexed paragraphs
        assert any(s <= c.char_start and c.char_end <= e for s, e in _runs(doc))
        covered[c.char_start : c.char_end] = b"\1" * (c.char_end - c.char_start)
    # every non-space character of the indexed text is in some passage
    for s, e in doc.segments:
        missing = [i for i in range(s, e) if not covered[i] and not doc.text[i].isspace()]
        assert not missing, (
            f"{doc.doc_id}: uncovered text {doc.text[missing[0] : missing[0] + 40]!r}"
        )
    for a, b in pairwise(chunks):
        assert b.char_start > a.char_start  # progress
        if b.char_start < a.char_end:  # overlapping passages repeat at most `overlap` chars
            assert a.char_end - b.char_start <= overlap


def _runs(doc: Document) -> list[tuple[int, int]]:
    runs: list[list[int]] = []
    for s, e in doc.segments:
        if runs and not doc.text[runs[-1][1] : s].strip():
            runs[-1][1] = e
        else:
            runs.append([s, e])
    return [(s, e) for s, e in runs]


@pytest.mark.parametrize("size, overlap", [(700, 150), (300, 0), (1500, 400), (120, 60)])
def test_every_seed_chunk_is_exact_and_covers_the_text(seed_docs, size, overlap):
    for doc in seed_docs:
        assert doc.text == original_text(doc.doc_id)
        assert_chunking_invariants(doc, size, overlap)


@pytest.mark.parametrize("corpus", ["pira_xling/corpus.jsonl", "faquad_pt/corpus.jsonl"])
def test_every_benchmark_chunk_is_exact_and_covers_the_text(corpus):
    path = benchmark(corpus)
    docs = load_documents([path])
    assert len(docs) > 200
    raw = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        raw[str(record["id"])] = record["text"]
    for doc in docs:
        assert doc.text == raw[doc.doc_id]
        assert_chunking_invariants(doc, 700, 150)


_words = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
_pieces = st.one_of(
    _words,
    st.sampled_from([". ", "! ", "? ", "\n", "\n\n", "\r\n", " ", "… ", "Sr. ", "US$ 1.5 ", "1. "]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_pieces, min_size=1, max_size=120), st.integers(100, 400), st.integers(0, 99))
def test_chunking_invariants_hold_for_any_text(pieces, size, overlap):
    text = "".join(pieces)
    if not any(c.isalnum() for c in text):  # no text: refused (tests/unit/test_ingest.py)
        with pytest.raises(IngestError, match="no letter or digit"):
            make_text_document("doc", text, source="generated")
        return
    doc = make_text_document("doc", text, source="generated")
    assert_chunking_invariants(doc, size, overlap)


def test_sentence_splitting_respects_abbreviations_numbers_and_lists():
    text = (
        "O Sr. Silva chegou às 10h. Ele pagou US$ 1.5 bilhão por 2.000 GPUs! "
        "E o Dr. J. Huang? Disse “sim”. Fim…\n  1. Primeiro item.\n  2. Segundo"
    )
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "O Sr. Silva chegou às 10h.",
        "Ele pagou US$ 1.5 bilhão por 2.000 GPUs!",
        "E o Dr. J. Huang?",
        "Disse “sim”.",
        "Fim…",
        "1. Primeiro item.",
        "2. Segundo",
    ]


_WORD_BEFORE = re.compile(r"([\w.]+)[.]$")  # the rule as a regular expression (the reference)


@settings(max_examples=300, deadline=None)
@given(st.lists(_pieces, min_size=1, max_size=60))
def test_the_word_before_a_period_is_the_regular_expressions(pieces):
    """Sentence splitting finds the word before a period by reading backwards (linear in
    the text: a regular expression searched from the text's start made a 300-page PDF
    quadratic); it finds what the expression finds."""
    text = "".join(pieces)
    for end in (i for i, c in enumerate(text) if c == "."):
        line_start = text.rfind("\n", 0, end) + 1
        found = _WORD_BEFORE.search(text, line_start, end + 1)
        expected = found.start() if found is not None else end
        assert _word_start(text, line_start, end) == expected, (text, end)


def test_headings_start_the_passage_they_introduce():
    first = " ".join(f"Frase {i} da primeira parte, com várias palavras." for i in range(5))
    second = " ".join(f"Frase {i} da segunda parte, com várias palavras." for i in range(5))
    text = f"Primeira seção\n\n{first}\n\nSegunda seção\n\n{second}"
    doc = make_text_document("d", text, source="generated")
    chunks = chunk_document(doc, size=300, overlap=0)
    for c in chunks:
        assert not c.text.endswith("seção")
    assert any(c.text.startswith("Segunda seção") for c in chunks)
