"""The second encoder: its passage vectors are stored with the segments, follow every write,
and its signal is asked only for the languages it serves and nothing else does."""

from __future__ import annotations

import numpy as np
import pytest

from qa.collection import FolderCollection
from qa.embed.companion import COMPANION
from qa.ingest import make_text_document
from qa.search import make_retriever
from qa.store import Store
from tests.helpers import COMPANION_ENCODER, HUANG_DOC, build_index, faiss_backend

STORY = (
    "A fábrica de semicondutores de Manaus vai contratar 450 engenheiros até o fim do ano. "
    "A diretora Helena Prado disse que a produção começa em outubro."
)


def test_the_encoder_gives_unit_vectors_that_match_across_languages() -> None:
    enc = COMPANION_ENCODER
    v = enc.encode(
        ["Quantos engenheiros a fábrica vai contratar?", "工厂要雇多少工程师？", "天气很好"]
    )
    assert v.shape == (3, enc.dim) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    factory = enc.encode([STORY])[0]
    assert v[1] @ factory > v[2] @ factory  # the Chinese question is nearer the story


def test_companion_vectors_follow_every_write(embedder, seed_docs, tmp_path) -> None:
    index = build_index(seed_docs, embedder, tmp_path)
    assert index.manifest.companion == COMPANION
    segment = Store(tmp_path).read_manifest().segments[0]
    assert "chunks.companion.npy" in segment.files
    rows = sorted(index.chunks)
    stored = index.companion.of(rows)
    fresh = COMPANION_ENCODER.encode([index.chunks[r].text for r in rows])
    assert np.allclose(stored, fresh, atol=2e-3)  # float16 on disk

    collection = FolderCollection.open(tmp_path, faiss_backend(), embedder)
    collection.upsert([make_text_document("manaus", STORY, "test")])
    added = collection.index.documents["manaus"].chunk_ids
    assert np.abs(collection.index.companion.of(added)).sum() > 0
    huang = collection.index.documents[HUANG_DOC].chunk_ids
    collection.delete([HUANG_DOC])
    assert np.abs(collection.index.companion.of(huang)).sum() == 0
    reopened = FolderCollection.open(tmp_path, faiss_backend(), embedder).index
    kept = sorted(reopened.chunks)
    assert np.allclose(reopened.companion.of(kept), collection.index.companion.of(kept))


def test_an_index_without_companion_has_neither_file_nor_signal(
    embedder, seed_docs, query_models, settings, tmp_path
):
    index = build_index(seed_docs, embedder, tmp_path, companion=False)
    assert index.companion is None and index.manifest.companion is None
    assert "chunks.companion.npy" not in Store(tmp_path).read_manifest().segments[0].files
    retriever = make_retriever("hybrid", embedder, settings, query_models)
    ranking = retriever.retrieve(index, "黄仁勋对投资者说了什么？", 5)
    assert ranking.candidates  # the other signals still rank


@pytest.mark.parametrize(
    ("question", "companion"),
    [
        ("黄仁勋对投资者说了什么？", True),  # Chinese: covered, no translator
        ("ماذا قال هوانغ عن المستثمرين؟", True),  # Arabic
        ("Was sagte Huang über die Investoren?", True),  # German
        ("¿Qué dijo Huang sobre los inversores?", False),  # Spanish: Portuguese's relative
        ("what did Huang say about investors?", False),  # translated to Portuguese instead
        ("O que Huang disse sobre os investidores?", False),  # the collection's language
        ("हुआंग ने निवेशकों के बारे में क्या कहा?", False),  # Hindi: not covered
        ("Huang đã nói gì về các nhà đầu tư?", False),  # Vietnamese: not covered
    ],
)
def test_the_signal_set_follows_the_question_language(
    embedder, seed_index, query_models, settings, question: str, companion: bool
) -> None:
    retriever = make_retriever("hybrid", embedder, settings, query_models)
    forms = retriever.forms(question, seed_index.language)
    assert forms.companion is companion
    ranking = retriever.retrieve(seed_index, question, 3)
    assert ranking.candidates[0][0] in seed_index.chunks


def test_a_question_in_chinese_or_arabic_finds_the_huang_article(
    embedder, seed_index, query_models, settings
) -> None:
    retriever = make_retriever("hybrid", embedder, settings, query_models)
    for question in ("黄仁勋对投资者说了什么？", "ماذا قال هوانغ عن المستثمرين؟"):
        ranking = retriever.retrieve(seed_index, question, 3)
        assert seed_index.chunks[ranking.candidates[0][0]].doc_id == HUANG_DOC
