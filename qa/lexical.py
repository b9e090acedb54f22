"""Lexical retrieval: BM25 (``bm25s``) with a Snowball stemmer and a stopword list."""

from __future__ import annotations

from collections.abc import Sequence

import bm25s
import Stemmer

# Snowball stemmer of each language code with a bm25s stopword list.
STEMMERS = {
    "pt": "portuguese",
    "en": "english",
    "es": "spanish",
    "fr": "french",
    "de": "german",
    "it": "italian",
}


class BM25Index:
    """BM25 over a list of passage texts; rows are the list positions."""

    def __init__(self, texts: Sequence[str], language: str = "pt") -> None:
        if language not in STEMMERS:
            raise ValueError(
                f"unsupported BM25 language {language!r}; use one of {', '.join(STEMMERS)}"
            )
        self.language = language
        self.stemmer = Stemmer.Stemmer(STEMMERS[language])
        self.size = len(texts)
        self.model = bm25s.BM25()
        if texts:
            self.model.index(self._tokens(texts), show_progress=False)

    def _tokens(self, texts: Sequence[str]) -> list[list[str]]:
        return bm25s.tokenize(
            list(texts),
            stopwords=self.language,
            stemmer=self.stemmer,
            return_ids=False,
            show_progress=False,
        )

    def terms(self, text: str) -> set[str]:
        """The stemmed, stopword-free terms of ``text``."""
        return set(self._tokens([text])[0])

    def search(self, question: str, k: int) -> list[tuple[int, float]]:
        """Rows and BM25 scores of the best ``k`` passages sharing a term with ``question``."""
        tokens = self._tokens([question])
        k = min(k, self.size)
        if not tokens[0] or k <= 0:
            return []
        rows, scores = self.model.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if s > 0]
