"""Passage and sentence tables: columns that read back exactly as the objects they hold."""

from __future__ import annotations

import numpy as np
import pytest

from qa.chunk import Chunk, Sentence, chunk_document, passage_sentences
from qa.index.tables import PassageTable, SentenceTable
from qa.index.view import PassageSentences
from qa.ingest import make_text_document
from qa.store import SegmentData, StoredDocument
from tests.helpers import CANTOR_DOC, HUANG_DOC, original_text


def stored(doc_id: str) -> StoredDocument:
    return StoredDocument(doc_id, "t", "s", "h", original_text(doc_id))


def split(doc_id: str, first_chunk: int) -> tuple[list[Chunk], np.ndarray, list[Sentence]]:
    doc = make_text_document(doc_id, original_text(doc_id), "seeds")
    chunks = chunk_document(doc, 700, 150)
    ids = np.arange(first_chunk, first_chunk + len(chunks))
    return chunks, ids, passage_sentences(chunks, ids.tolist())


def test_tables_read_back_what_they_hold_and_forget_what_leaves():
    documents = {d: stored(d) for d in (HUANG_DOC, CANTOR_DOC)}
    passages, sentences = PassageTable(documents), SentenceTable()
    expected_chunks: dict[int, Chunk] = {}
    expected_sentences: dict[int, Sentence] = {}
    next_sentence = 0
    for doc_id, first in ((HUANG_DOC, 0), (CANTOR_DOC, 5000)):  # ids need not be dense
        chunks, ids, held = split(doc_id, first)
        sids = np.arange(next_sentence, next_sentence + len(held))
        next_sentence += len(held) + 3
        seg = SegmentData.of("s", [], ids, chunks, np.zeros((0, 1)), sids, held, np.zeros((0, 1)))
        passages.add(ids, seg.chunk_docs, seg.chunk_spans, seg.chunk_numbers)
        sentences.add(sids, seg.sentence_docs, seg.sentence_spans, seg.holders_ptr, seg.holders)
        passages.link(sids, seg.holders_ptr, seg.holders)
        expected_chunks |= dict(zip(ids.tolist(), chunks, strict=True))
        expected_sentences |= dict(zip(sids.tolist(), held, strict=True))

    assert dict(passages) == expected_chunks and dict(sentences) == expected_sentences
    assert len(passages) == len(expected_chunks) and 5000 in passages and 4999 not in passages
    by_passage = PassageSentences(passages)
    for cid in expected_chunks:
        holding = [s for s, v in expected_sentences.items() if cid in v.chunks]
        assert by_passage[cid] == holding
        assert all(
            expected_chunks[cid].text.find(original_text(v.doc_id)[v.char_start : v.char_end]) >= 0
            for v in (expected_sentences[s] for s in holding)
        )

    gone_chunks = [c for c, v in expected_chunks.items() if v.doc_id == HUANG_DOC]
    gone_sentences = [s for s, v in expected_sentences.items() if v.doc_id == HUANG_DOC]
    passages.remove(np.asarray([*gone_chunks, 10**6]))  # an unknown id is ignored
    sentences.remove(np.asarray(gone_sentences))
    assert set(passages) == set(expected_chunks) - set(gone_chunks)
    assert set(sentences) == set(expected_sentences) - set(gone_sentences)
    assert passages.rows.held(np.asarray([gone_chunks[0], 5000, -1, 10**7])).tolist() == [
        False,
        True,
        False,
        False,
    ]
    with pytest.raises(KeyError):
        passages[gone_chunks[0]]
    with pytest.raises(KeyError):
        by_passage[gone_chunks[0]]
    assert by_passage.get(gone_chunks[0], ()) == ()
