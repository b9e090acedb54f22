"""Where indexing spends its time, and whether "late chunking" would save it at equal quality.

``qa index`` embeds every passage, then every sentence of it again (the answer stage and
the ranking's sentence signal read sentence vectors), then every passage with the second
encoder. Measured here in one process on the same passages, each stage alone:

* reading and chunking; the passages embedded (the embedder's own passage rate, the
  baseline); the sentences embedded, each on its own (what ``qa index`` does); the second
  encoder; the lexical postings;
* *late chunking*: each sentence's vector pooled (token mean, normalised) from the hidden
  states of its passage's own forward pass (the export's ``tokens`` output), so no second
  pass — its time, and what it costs in quality: how often the sentence of the gold
  passage nearest a question by cosine holds the gold answer, over xquad_xling questions
  in 13 languages (the answer stage's first signal), pooled against separate vectors.

    python -m bench --only index --update     # as part of the index section
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import SHARED, log
from qa.chunk import Chunk, Sentence, chunk_document, passage_sentences
from qa.core.config import Settings
from qa.embed import load_embedder
from qa.embed.companion import CompanionEncoder
from qa.embed.onnx import OnnxEmbedder, model_inputs
from qa.index.terms import Terms, corpus_language
from qa.ingest import Document, make_text_document
from qa.ingest.readers import read_jsonl

XQUAD = SHARED / "xquad_xling"
PER_LANGUAGE = 100  # xquad_xling questions per language for the quality check


def pool_spans(
    hidden: np.ndarray, offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]
) -> np.ndarray:
    """Each character range of ``spans`` (in the prompted text): the normalised mean of
    the hidden states of the tokens inside it (zeros where no token is: past truncation)."""
    bounds = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    starts, ends = bounds[:, 0], bounds[:, 1]
    out = np.zeros((len(spans), hidden.shape[1]), dtype=np.float32)
    for n, (a, b) in enumerate(spans):
        inside = (ends > starts) & (ends > a) & (starts < b)
        if inside.any():
            vector = hidden[inside].mean(axis=0)
            out[n] = vector / np.linalg.norm(vector)
    return out


def pooled_sentences(
    embedder: OnnxEmbedder, chunks: Sequence[Chunk], sentences: Sequence[Sentence]
) -> tuple[np.ndarray, np.ndarray]:
    """Passage vectors and sentence vectors pooled from the passages' forward passes (one
    passage per run: timing the pooling, not the batching)."""
    prompt = embedder.passage_prompt
    spans: list[list[tuple[int, int, int]]] = [[] for _ in chunks]
    for n, s in enumerate(sentences):
        k = s.chunks[0]
        shift = len(prompt) - chunks[k].char_start
        spans[k].append((n, s.char_start + shift, s.char_end + shift))
    passages = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
    pooled = np.zeros((len(sentences), embedder.dim), dtype=np.float32)
    encodings = embedder.tokenizer.encode_batch([prompt + c.text for c in chunks])
    for rows in embedder._batches([len(e.ids) for e in encodings]):
        feeds = model_inputs([encodings[i].ids for i in rows], embedder.pad_id)
        vectors, hidden = embedder.session.run(["embedding", "tokens"], feeds)
        passages[rows] = vectors
        for j, k in enumerate(rows):
            these = spans[k]
            n = len(encodings[k].ids)
            vectors_k = pool_spans(
                hidden[j, :n], encodings[k].offsets, [(a, b) for _, a, b in these]
            )
            for (m, _, _), v in zip(these, vectors_k, strict=True):
                pooled[m] = v
    return passages, pooled


def split(documents: Sequence[Document], settings: Settings) -> tuple[list[Chunk], list[Sentence]]:
    chunks = [
        c for d in documents for c in chunk_document(d, settings.chunk_size, settings.chunk_overlap)
    ]
    return chunks, passage_sentences(chunks, range(len(chunks)))


def timed(action: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    out = action()
    return time.perf_counter() - started, out


def where_time_goes(records: Path, settings: Settings) -> dict[str, Any]:
    """Seconds of each indexing stage over ``records`` (a .jsonl), in one process."""
    embedder = load_embedder(settings)
    assert isinstance(embedder, OnnxEmbedder), "the breakdown needs an ONNX backend"
    companion = CompanionEncoder()
    companion.encode(["warm-up"])
    embedder.encode_passages(["warm-up"])
    read_s, documents = timed(lambda: list(read_jsonl(records)))
    chunk_s, (chunks, sentences) = timed(lambda: split(documents, settings))
    texts = {d.doc_id: d.text for d in documents}
    passage_texts = [c.text for c in chunks]
    sentence_texts = [texts[s.doc_id][s.char_start : s.char_end] for s in sentences]
    log(f"index: where the time goes, {len(chunks)} passages, {len(sentences)} sentences")
    passages_s, plain = timed(lambda: embedder.encode_passages(passage_texts))
    sentences_s, separate = timed(lambda: embedder.encode_passages(sentence_texts))
    companion_s, _ = timed(lambda: companion.encode(passage_texts))
    terms = Terms(corpus_language(passage_texts))
    lexical_s, _ = timed(lambda: terms.postings(passage_texts))
    pooled_s, (one_pass, pooled) = timed(lambda: pooled_sentences(embedder, chunks, sentences))
    return {
        "documents": len(documents),
        "passages": len(chunks),
        "sentences": len(sentences),
        "seconds": {
            "read": round(read_s, 2),
            "chunk": round(chunk_s, 2),
            "passages": round(passages_s, 1),
            "sentences": round(sentences_s, 1),
            "companion": round(companion_s, 1),
            "lexical": round(lexical_s, 2),
            "pooled": round(pooled_s, 1),
        },
        "embedder_passages_per_s": round(len(chunks) / passages_s, 1),
        "pooled_vs_separate_cosine": round(float(np.median((pooled * separate).sum(axis=1))), 3),
        # the passage vectors of the pooling pass are those of the plain one
        "passage_vectors_differ_by": float(np.abs(one_pass - plain).max()),
    }


def sentence_choice(settings: Settings) -> dict[str, Any]:
    """How often the gold passage's sentence nearest the question (by cosine) holds the
    gold answer, with sentence vectors made separately and pooled: xquad_xling,
    :data:`PER_LANGUAGE` questions per language (answers of at least 4 characters)."""
    embedder = load_embedder(settings)
    assert isinstance(embedder, OnnxEmbedder)
    queries = [json.loads(line) for line in (XQUAD / "queries.jsonl").open(encoding="utf-8")]
    answers = {
        r["query_id"]: r["answers"]
        for r in map(json.loads, (XQUAD / "answers.jsonl").open(encoding="utf-8"))
    }
    gold: dict[str, str] = {}
    for line in (XQUAD / "qrels.tsv").open(encoding="utf-8"):
        parts = line.split()
        if len(parts) >= 2 and parts[0] != "query-id":
            gold[parts[0]] = parts[1]
    corpus = {
        r["id"]: r["text"] for r in map(json.loads, (XQUAD / "corpus.jsonl").open(encoding="utf-8"))
    }
    rng = random.Random(0)
    by_language: dict[str, list[dict[str, Any]]] = {}
    for q in queries:
        if q["id"] in gold and any(len(a) >= 4 for a in answers.get(q["id"], [])):
            by_language.setdefault(q["lang"], []).append(q)
    asked = [q for qs in by_language.values() for q in rng.sample(qs, min(PER_LANGUAGE, len(qs)))]
    paragraphs = sorted({gold[q["id"]] for q in asked})
    documents = [make_text_document(p, corpus[p], p) for p in paragraphs]
    chunks, sentences = split(documents, settings)
    texts = {d.doc_id: d.text for d in documents}
    log(f"index: late chunking's sentence choice, {len(asked)} xquad_xling questions")
    separate = embedder.encode_passages(
        [texts[s.doc_id][s.char_start : s.char_end] for s in sentences]
    )
    _, pooled = pooled_sentences(embedder, chunks, sentences)
    questions = embedder.encode_queries([q["text"] for q in asked])
    of_paragraph: dict[str, list[int]] = {}
    for n, s in enumerate(sentences):
        of_paragraph.setdefault(s.doc_id, []).append(n)
    right = {"separate": [], "pooled": []}  # type: dict[str, list[bool]]
    for k, q in enumerate(asked):
        rows = of_paragraph[gold[q["id"]]]
        spans = [a for a in answers[q["id"]] if len(a) >= 4]
        for name, vectors in (("separate", separate), ("pooled", pooled)):
            best = sentences[rows[int(np.argmax(vectors[rows] @ questions[k]))]]
            said = texts[best.doc_id][best.char_start : best.char_end]
            right[name].append(any(a in said for a in spans))
    return {
        "questions": len(asked),
        "languages": len(by_language),
        "separate": round(float(np.mean(right["separate"])), 3),
        "pooled": round(float(np.mean(right["pooled"])), 3),
    }
