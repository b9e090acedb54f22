"""Lexical retrieval: BM25 over stemmed, stopword-free terms, updatable in place.

Terms come from ``bm25s``' tokenizer with a Snowball stemmer (``PyStemmer``) and the
language's stopword list. Scoring is Lucene's BM25 as ``bm25s`` computes it (``idf =
ln(1 + (N - df + 0.5) / (df + 0.5))``) with ``k1 = 0.9``, ``b = 0.4`` (Anserini's
defaults, not bm25s' 1.5 and 0.75), and the tests compare it with ``bm25s`` itself.
``bm25s`` builds a static index; a collection that changes one article at a time needs
postings it can add to and remove from without re-indexing everything, so this class
keeps its own: adding or removing a passage costs time proportional to that passage's
terms, and statistics (N, average length, document frequencies) are exact after every
change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import bm25s
import numpy as np
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
# Term-frequency saturation and length normalisation. Measured on pira_xling validation
# questions (hybrid MRR@10, Portuguese): 0.889 with bm25s' 1.5 / 0.75, 0.896 with these;
# every k1 in 0.6-1.0 with b in 0.3-0.5 scores within 0.003 of them (and faquad_pt 0.914
# -> 0.915), so the choice is a plateau, not a peak.
K1, B = 0.9, 0.4


class _Postings:
    """Passage ids and term frequencies of one term; removals are purged lazily."""

    __slots__ = ("arrays", "dead", "ids", "tfs")

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.tfs: list[int] = []
        self.dead = 0
        self.arrays: tuple[np.ndarray, np.ndarray] | None = None


class BM25Index:
    """BM25 over passages identified by non-negative integer ids."""

    def __init__(self, language: str) -> None:
        if language not in STEMMERS:
            raise ValueError(
                f"unsupported BM25 language {language!r}; use one of {', '.join(STEMMERS)}"
            )
        self.language = language
        self.stemmer = Stemmer.Stemmer(STEMMERS[language])
        self.postings: dict[str, _Postings] = {}
        self.doc_terms: dict[int, Counter[str]] = {}
        self.lengths = np.zeros(0, dtype=np.float32)
        self.total_length = 0

    @classmethod
    def build(cls, items: Iterable[tuple[int, str]], language: str) -> BM25Index:
        index = cls(language)
        index.add(items)
        return index

    def __len__(self) -> int:
        return len(self.doc_terms)

    def tokens(self, texts: Sequence[str]) -> list[list[str]]:
        """Stemmed, stopword-free tokens of each text."""
        return bm25s.tokenize(
            list(texts),
            stopwords=self.language,
            stemmer=self.stemmer,
            return_ids=False,
            show_progress=False,
        )

    def terms(self, text: str) -> set[str]:
        """The stemmed, stopword-free terms of ``text``."""
        return set(self.tokens([text])[0])

    def idf(self, term: str) -> float:
        """BM25's inverse document frequency of a stemmed term (a term no passage holds
        gets the highest)."""
        n = len(self.doc_terms)
        postings = self.postings.get(term)
        df = len(postings.ids) - postings.dead if postings is not None else 0
        return float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))

    # -------------------------------------------------------------------- updates
    def add(self, items: Iterable[tuple[int, str]]) -> None:
        """Index passages given as ``(id, text)``; an id already present is replaced."""
        items = list(items)
        if not items:
            return
        self.remove([i for i, _ in items if i in self.doc_terms])
        top = max(i for i, _ in items)
        if top >= len(self.lengths):
            grown = np.zeros(max(top + 1, 2 * len(self.lengths)), dtype=np.float32)
            grown[: len(self.lengths)] = self.lengths
            self.lengths = grown
        for (pid, _), tokens in zip(items, self.tokens([t for _, t in items]), strict=True):
            counts = Counter(tokens)
            self.doc_terms[pid] = counts
            self.lengths[pid] = len(tokens)
            self.total_length += len(tokens)
            for term, tf in counts.items():
                postings = self.postings.get(term)
                if postings is None:
                    postings = self.postings[term] = _Postings()
                postings.ids.append(pid)
                postings.tfs.append(tf)
                postings.arrays = None

    def remove(self, ids: Iterable[int]) -> None:
        """Forget passages; unknown ids are ignored."""
        for pid in ids:
            counts = self.doc_terms.pop(pid, None)
            if counts is None:
                continue
            self.total_length -= int(self.lengths[pid])
            self.lengths[pid] = 0
            for term in counts:
                postings = self.postings[term]
                postings.dead += 1
                postings.arrays = None
                if postings.dead * 2 > len(postings.ids):
                    self._purge(term, postings)

    def _purge(self, term: str, postings: _Postings) -> None:
        keep = [k for k, pid in enumerate(postings.ids) if pid in self.doc_terms]
        if not keep:
            del self.postings[term]
            return
        postings.ids = [postings.ids[k] for k in keep]
        postings.tfs = [postings.tfs[k] for k in keep]
        postings.dead, postings.arrays = 0, None

    def _arrays(self, postings: _Postings) -> tuple[np.ndarray, np.ndarray]:
        if postings.arrays is None:
            ids = np.asarray(postings.ids, dtype=np.int64)
            tfs = np.asarray(postings.tfs, dtype=np.float32)
            if postings.dead:
                live = np.fromiter((i in self.doc_terms for i in postings.ids), bool, len(ids))
                ids, tfs = ids[live], tfs[live]
            postings.arrays = (ids, tfs)
        return postings.arrays

    # --------------------------------------------------------------------- search
    def score_arrays(self, query_terms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Ids of the passages sharing a term with the query and their BM25 scores
        (a term repeated in the query counts again)."""
        n = len(self.doc_terms)
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        if n == 0:
            return empty
        avgdl = self.total_length / n
        total = np.zeros(len(self.lengths), dtype=np.float32)
        touched: list[np.ndarray] = []
        for term in query_terms:
            postings = self.postings.get(term)
            if postings is None:
                continue
            ids, tfs = self._arrays(postings)
            if not len(ids):
                continue
            df = len(ids)
            idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
            norm = K1 * (1.0 - B + B * self.lengths[ids] / avgdl)
            total[ids] += (idf * tfs / (tfs + norm)).astype(np.float32)
            touched.append(ids)
        if not touched:
            return empty
        ids = np.unique(np.concatenate(touched))
        return ids, total[ids]

    def search(
        self, question: str, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Ids and BM25 scores of the best ``k`` passages sharing a term with ``question``
        (ties by id); with ``allowed``, a boolean mask over ids, only those passages."""
        ids, scores = self.score_arrays(self.tokens([question])[0])
        if allowed is not None and len(ids):
            keep = ids < len(allowed)
            keep[keep] = allowed[ids[keep]]
            ids, scores = ids[keep], scores[keep]
        keep = scores > 0
        ids, scores = ids[keep], scores[keep]
        if k <= 0 or not len(ids):
            return []
        if len(ids) > k:
            part = np.argpartition(-scores, k - 1)[:k]
            ids, scores = ids[part], scores[part]
        order = np.lexsort((ids, -scores))
        return [(int(ids[i]), float(scores[i])) for i in order]
