"""The terms of a text in the collection's language: ``bm25s``' tokenizer with a Snowball
stemmer (``PyStemmer``) and the language's stopword list. BM25 in the process
(:mod:`qa.index.lexical`) and the lexicon of a collection held in Milvus stem questions
and passages with the same :class:`Terms`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import chain

import bm25s
import numpy as np
import Stemmer

from qa.ingest.language import LanguageDetector
from qa.store.segments import Postings

MAX_TF = np.iinfo(np.uint16).max  # a term's count in one passage, as stored
# Snowball stemmer of each language code with a bm25s stopword list.
STEMMERS = {
    "pt": "portuguese",
    "en": "english",
    "es": "spanish",
    "fr": "french",
    "de": "german",
    "it": "italian",
}


TERMS_CACHED = 4096  # texts whose terms a Terms keeps (the most recently used)


class Terms:
    """Stemmed, stopword-free terms of texts in ``language``."""

    def __init__(self, language: str) -> None:
        if language not in STEMMERS:
            raise ValueError(
                f"unsupported BM25 language {language!r}; use one of {', '.join(STEMMERS)}"
            )
        self.language = language
        self.stemmer = Stemmer.Stemmer(STEMMERS[language])
        # the same passages and sentences are read question after question
        self._terms = lru_cache(maxsize=TERMS_CACHED)(self._terms_of)

    def tokens(self, texts: Sequence[str]) -> list[list[str]]:
        """Stemmed, stopword-free tokens of each text."""
        return bm25s.tokenize(
            list(texts),
            stopwords=self.language,
            stemmer=self.stemmer,
            return_ids=False,
            show_progress=False,
        )

    def terms(self, text: str) -> frozenset[str]:
        """The stemmed, stopword-free terms of ``text``."""
        return self._terms(text)

    def _terms_of(self, text: str) -> frozenset[str]:
        return frozenset(self.tokens([text])[0])

    def postings(self, texts: Iterable[str]) -> Postings:
        """The postings of passages ``texts`` (rows 0, 1, …), in a vocabulary of their own:
        what a segment stores, so that loading it never tokenises again."""
        tokenized = bm25s.tokenize(
            list(texts),
            stopwords=self.language,
            stemmer=self.stemmer,
            return_ids=True,
            show_progress=False,
        )
        return postings_of(tokenized.ids, tokenized.vocab)


def postings_of(tokens: list[list[int]], vocab: dict[str, int]) -> Postings:
    """The postings of passages (rows 0, 1, …) whose ``tokens`` are ids of ``vocab``'s
    words, in (term, row) order."""
    lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    flat = np.fromiter(chain.from_iterable(tokens), dtype=np.int64, count=int(lengths.sum()))
    # one (term, row) key per token, counted
    width = max(len(tokens), 1)
    rows = np.repeat(np.arange(len(tokens), dtype=np.int64), lengths)
    keys, tfs = np.unique(flat * width + rows, return_counts=True)
    term, row = np.divmod(keys, width)
    return Postings(
        sorted(vocab, key=vocab.__getitem__),
        term.astype(np.int32),
        row.astype(np.int32),
        np.minimum(tfs, MAX_TF).astype(np.uint16),
        lengths.astype(np.int32),
    )


def corpus_language(texts: Sequence[str]) -> str:
    """The language most of ``texts`` is written in, among those BM25 can stem."""
    return LanguageDetector(tuple(STEMMERS)).majority(list(texts) or [""])
