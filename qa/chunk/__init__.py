"""Step 2: split documents into passages and sentences, with exact character offsets."""

from qa.chunk.passages import Chunk, chunk_document, passage_sentences
from qa.chunk.sentences import MIN_SENTENCE_CHARS, Sentence, sentence_spans

__all__ = [
    "MIN_SENTENCE_CHARS",
    "Chunk",
    "Sentence",
    "chunk_document",
    "passage_sentences",
    "sentence_spans",
]
