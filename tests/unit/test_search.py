from __future__ import annotations

import pytest

from qa.search import DenseRetriever, LexicalRetriever, search
from qa.store import Chunking
from tests.helpers import HUANG_DOC, original_text


def test_results_are_ranked_unique_and_cut_at_top_k(embedder, seed_index):
    for k in (1, 3, 50):
        answer = search(DenseRetriever(embedder), seed_index, "NVIDIA market value", k)
        assert len(answer.hits) == min(k, len(seed_index.chunks))
        assert [h.rank for h in answer.hits] == list(range(1, len(answer.hits) + 1))
        scores = [h.score for h in answer.hits]
        assert scores == sorted(scores, reverse=True)
        assert len({h.chunk.chunk_id for h in answer.hits}) == len(answer.hits)
        assert answer.took_ms > 0


def test_bm25_finds_portuguese_words_and_nothing_for_foreign_ones(seed_index):
    bm25 = LexicalRetriever()
    hits = search(bm25, seed_index, "Quantas GPUs H800 treinaram o R1?", 3).hits
    assert "2.000 GPUs H800" in hits[0].chunk.text
    # stemming: "investidor" matches "investidores"
    assert search(bm25, seed_index, "investidor", 1).hits[0].chunk.doc_id == HUANG_DOC
    # no shared word, no result (an English function-word question)
    assert search(bm25, seed_index, "what is it about?", 5).hits == []


@pytest.fixture(scope="module")
def hybrid(embedder, seed_index, settings, query_models):
    from qa.search import make_retriever

    return make_retriever("hybrid", embedder, settings, query_models)


@pytest.mark.parametrize("method", ["dense", "bm25", "hybrid"])
def test_highlights_are_exact_sentences_inside_their_passage(
    embedder, seed_index, settings, method
):
    from qa.chunk import sentence_spans
    from qa.search import make_retriever

    retriever = make_retriever(method, embedder, settings)
    for question in ("Quantas GPUs H800 treinaram o R1?", "When is the earnings call?", "Jevons"):
        for hit in search(retriever, seed_index, question, 5).hits:
            start, end = hit.highlight
            assert hit.chunk.char_start <= start < end <= hit.chunk.char_end
            relative = (start - hit.chunk.char_start, end - hit.chunk.char_start)
            assert relative in sentence_spans(hit.chunk.text)
    gpu = search(retriever, seed_index, "Quantas GPUs H800 treinaram o R1?", 1).hits[0]
    text = original_text(gpu.chunk.doc_id)
    assert "2.000 GPUs H800" in text[gpu.highlight[0] : gpu.highlight[1]]


def test_question_forms_follow_the_question_language(hybrid, seed_index):
    english = hybrid.forms("what did Huang say about investors?", seed_index.language)
    assert english.language == "en" and english.lexical_native
    assert "investidores" in english.lexical.lower()  # translated into the collection's language
    assert english.cross == english.lexical
    portuguese = hybrid.forms("O que Huang disse sobre os investidores?", seed_index.language)
    assert portuguese.language == "pt" and portuguese.lexical_native
    assert portuguese.lexical == "O que Huang disse sobre os investidores?"
    assert portuguese.cross and "investors" in portuguese.cross.lower()
    german = hybrid.forms("Was sagte Huang über die Investoren?", seed_index.language)
    assert german.language == "de" and german.cross is None and not german.lexical_native


def test_near_duplicate_passages_never_fill_two_slots(embedder, settings, tmp_path):
    from qa.ingest import make_text_document
    from qa.search import DenseRetriever, near_duplicate
    from tests.helpers import build_index

    story = (
        "A fábrica de chips da empresa em Manaus vai dobrar a produção de memórias até 2027. "
        "O investimento anunciado é de R$ 2 bilhões e deve criar 3.000 empregos diretos. "
        "Segundo o diretor, a demanda por centros de dados justifica a expansão acelerada."
    )
    variant = story.replace("acelerada", "rápida")
    filler = "\n\n".join(
        [
            "O campeonato de futebol terminou com a vitória do time visitante nos pênaltis.",
            "A previsão do tempo indica chuva forte no litoral durante todo o fim de semana.",
            "Uma receita de bolo de cenoura leva ovos, farinha, açúcar e cobertura de chocolate.",
        ]
    )
    doc = make_text_document("d.txt", f"Notícia\n\n{story}\n\n{filler}\n\n{variant}", "gen")
    index = build_index([doc], embedder, tmp_path / "index", Chunking(size=260, overlap=0))
    rows = [r for r, c in index.chunks.items() if "Manaus" in c.text]
    assert len(rows) == 2  # the article really holds two near-identical passages
    hits = search(DenseRetriever(embedder), index, "fábrica de chips em Manaus", 5).hits
    manaus = [h for h in hits if "Manaus" in h.chunk.text]
    assert len(manaus) == 1
    assert len(hits) == 2  # the list is still filled with what is not a duplicate
    words = [set(h.chunk.text.lower().split()) for h in hits]
    assert not near_duplicate(frozenset(words[0]), frozenset(words[1]))
