"""Lexical retrieval: BM25 over stemmed, stopword-free terms, updatable in place.

Terms come from :class:`qa.index.terms.Terms` (``bm25s``' tokenizer, a Snowball stemmer,
the language's stopwords). Scoring is Lucene's BM25 as ``bm25s`` computes it (``idf =
ln(1 + (N - df + 0.5) / (df + 0.5))``) with ``k1 = 0.9``, ``b = 0.4`` (Anserini's
defaults, not bm25s' 1.5 and 0.75), and the tests compare it with ``bm25s`` itself.

``bm25s`` builds a static index; a collection that changes one article at a time needs
postings it can add to and remove from, and a million passages need them compact. So the
postings are arrays: a term-major CSR (``int32`` passage ids, ``uint16`` term frequencies:
6 bytes a posting) holding most of them, beside small append-only buffers for passages
added since the last merge. A removed passage is only marked dead — its postings are
skipped — until dead passages pass a quarter of the total, when the arrays are rebuilt
without them; buffers merge into the arrays once they pass an eighth of them. Statistics
(N, average length, document frequencies) are exact after every change: document
frequencies count the live postings of a term when it is scored.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence

import numpy as np

from qa.index.terms import Terms
from qa.store.segments import Postings

# Term-frequency saturation and length normalisation. Measured on pira_xling validation
# questions (hybrid MRR@10, Portuguese): 0.889 with bm25s' 1.5 / 0.75, 0.896 with these;
# every k1 in 0.6-1.0 with b in 0.3-0.5 scores within 0.003 of them (and faquad_pt 0.914
# -> 0.915), so the choice is a plateau, not a peak.
K1, B = 0.9, 0.4
# Buffered postings merge into the arrays past this share of them (and at least this many).
MERGE_SHARE, MERGE_MIN = 1 / 8, 100_000
# Dead passages are purged from the arrays past this share of the passages they hold.
PURGE_SHARE = 1 / 4


class BM25Index:
    """BM25 over passages identified by non-negative integer ids."""

    def __init__(self, language: str) -> None:
        self.terms_of = Terms(language)
        self.language = language
        self.vocab: dict[str, int] = {}
        # the arrays: postings of term t are ids[ptr[t]:ptr[t + 1]] (terms past the end of
        # ptr have none there yet)
        self.ptr = np.zeros(1, dtype=np.int64)
        self.ids = np.zeros(0, dtype=np.int32)
        self.tfs = np.zeros(0, dtype=np.uint16)
        # the buffers: postings added since the last merge, by term id
        self.recent: dict[int, tuple[array[int], array[int]]] = {}
        self.recent_postings = 0
        # by passage id: token count (0: absent), live, and whether postings hold it
        self.lengths = np.zeros(0, dtype=np.float32)
        self.live = np.zeros(0, dtype=bool)
        self.held = np.zeros(0, dtype=bool)
        self.count = 0  # live passages
        self.dead = 0  # passages the postings hold that are no longer live
        self.total_length = 0

    @classmethod
    def build(cls, items: Iterable[tuple[int, str]], language: str) -> BM25Index:
        index = cls(language)
        index.add(items)
        return index

    def __len__(self) -> int:
        return self.count

    def __contains__(self, pid: object) -> bool:
        if not isinstance(pid, int | np.integer) or not 0 <= pid < len(self.live):
            return False
        return bool(self.live[pid])

    def passage_ids(self) -> np.ndarray:
        """The live passages' ids, ascending."""
        return np.flatnonzero(self.live)

    def terms(self, text: str) -> frozenset[str]:
        """The stemmed, stopword-free terms of ``text``."""
        return self.terms_of.terms(text)

    def idf(self, term: str) -> float:
        """BM25's inverse document frequency of a stemmed term (a term no passage holds
        gets the highest)."""
        tid = self.vocab.get(term)
        df = len(self._postings(tid)[0]) if tid is not None else 0
        return bm25_idf(self.count, df)

    # -------------------------------------------------------------------- updates
    def add(self, items: Iterable[tuple[int, str]]) -> None:
        """Index passages given as ``(id, text)``; an id already present is replaced."""
        items = list(items)
        if items:
            pids = np.asarray([pid for pid, _ in items], dtype=np.int64)
            self.add_postings(pids, self.terms_of.postings(text for _, text in items))

    def add_postings(self, pids: np.ndarray, postings: Postings) -> None:
        """Index passages ``pids`` (row i of ``postings`` is passage ``pids[i]``); an id
        already present is replaced."""
        if not len(pids):
            return
        local = np.fromiter(
            (self.vocab.setdefault(w, len(self.vocab)) for w in postings.words),
            dtype=np.int32,
            count=len(postings.words),
        )
        order = np.argsort(local[postings.term], kind="stable")
        term = local[postings.term][order]
        pid = pids[postings.row][order].astype(np.int32)
        tf = postings.tf[order]
        lengths = postings.lengths.astype(np.float32)
        self._grow(int(pids.max()) + 1)
        self.remove(pids)
        if self.held[pids].any():  # ids given again: their dead postings must go first
            self._merge(purge=True)
        self.lengths[pids] = lengths
        self.total_length += int(lengths.sum())
        self.live[pids] = True
        self.held[pids] = True
        self.count += len(np.unique(pids))
        if len(term) > MERGE_MIN:  # a bulk load: straight into the arrays
            self._merge(extra=(term, pid, tf))
            return
        _buffer(self.recent, term, pid, tf)
        self.recent_postings += len(term)
        if self.recent_postings > max(MERGE_MIN, MERGE_SHARE * len(self.ids)):
            self._merge()

    def remove(self, ids: Iterable[int]) -> None:
        """Forget passages; unknown ids are ignored."""
        given = np.fromiter(ids, dtype=np.int64)
        given = given[(given >= 0) & (given < len(self.live))]
        gone = np.unique(given[self.live[given]])
        if not len(gone):
            return
        self.live[gone] = False
        self.total_length -= int(self.lengths[gone].sum())
        self.lengths[gone] = 0
        self.count -= len(gone)
        self.dead += len(gone)
        if self.dead > PURGE_SHARE * (self.count + self.dead):
            self._merge(purge=True)

    def _grow(self, size: int) -> None:
        if size <= len(self.live):
            return
        size = max(size, 2 * len(self.live))
        for name in ("lengths", "live", "held"):
            old = getattr(self, name)
            grown = np.zeros(size, dtype=old.dtype)
            grown[: len(old)] = old
            setattr(self, name, grown)

    def _merge(
        self, purge: bool = False, extra: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    ) -> None:
        """Rebuild the arrays with the buffers (and ``extra`` postings: term ids, passage
        ids, frequencies, in term order) merged in; ``purge``: without the postings of dead
        passages. The arrays are in term order already, so new postings are put in place
        by binary search, not by sorting everything again."""
        term = np.repeat(np.arange(len(self.ptr) - 1, dtype=np.int32), np.diff(self.ptr))
        pid, tf = self.ids, self.tfs
        parts = [extra] if extra is not None else []
        if self.recent:
            buffered = sorted(self.recent.items())
            parts.append(
                (
                    np.concatenate([np.full(len(p), t, dtype=np.int32) for t, (p, _) in buffered]),
                    np.concatenate([np.frombuffer(p, dtype=np.int32) for _, (p, _) in buffered]),
                    np.concatenate([np.frombuffer(f, dtype=np.uint16) for _, (_, f) in buffered]),
                )
            )
        if parts:
            new_term = np.concatenate([t for t, _, _ in parts])
            order = np.argsort(new_term, kind="stable") if len(parts) > 1 else slice(None)
            new_term = new_term[order]
            new_pid = np.concatenate([p for _, p, _ in parts])[order]
            new_tf = np.concatenate([f for _, _, f in parts])[order]
            at = np.searchsorted(term, new_term, side="right") + np.arange(len(new_term))
            old = np.ones(len(term) + len(new_term), dtype=bool)
            old[at] = False
            term, pid, tf = (
                _interleave(term, new_term, at, old),
                _interleave(pid, new_pid, at, old),
                _interleave(tf, new_tf, at, old),
            )
        if purge:
            keep = self.live[pid]
            term, pid, tf = term[keep], pid[keep], tf[keep]
            self.held = self.live.copy()
            self.dead = 0
        self.ids, self.tfs = pid, tf
        ptr = np.zeros(len(self.vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(term, minlength=len(self.vocab)), out=ptr[1:])
        self.ptr = ptr
        self.recent, self.recent_postings = {}, 0

    def _postings(self, tid: int) -> tuple[np.ndarray, np.ndarray]:
        """Live passage ids and term frequencies of term ``tid``."""
        if tid + 1 < len(self.ptr):
            start, end = self.ptr[tid], self.ptr[tid + 1]
            ids, tfs = self.ids[start:end], self.tfs[start:end]
        else:
            ids, tfs = self.ids[:0], self.tfs[:0]
        buffered = self.recent.get(tid)
        if buffered is not None:
            ids = np.concatenate([ids, np.frombuffer(buffered[0], dtype=np.int32)])
            tfs = np.concatenate([tfs, np.frombuffer(buffered[1], dtype=np.uint16)])
        if self.dead:
            keep = self.live[ids]
            ids, tfs = ids[keep], tfs[keep]
        return ids, tfs

    # --------------------------------------------------------------------- search
    def score_arrays(self, query_terms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Ids of the passages sharing a term with the query and their BM25 scores
        (a term repeated in the query counts again)."""
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        if self.count == 0:
            return empty
        avgdl = self.total_length / self.count
        total = np.zeros(len(self.lengths), dtype=np.float32)
        touched = False
        for term in query_terms:
            tid = self.vocab.get(term)
            if tid is None:
                continue
            ids, counts = self._postings(tid)
            if not len(ids):
                continue
            tfs = counts.astype(np.float32)
            norm = K1 * (1.0 - B + B * self.lengths[ids] / avgdl)
            total[ids] += (bm25_idf(self.count, len(ids)) * tfs / (tfs + norm)).astype(np.float32)
            touched = True
        if not touched:
            return empty
        ids = np.flatnonzero(total > 0)  # every term weighs more than 0: the passages touched
        return ids, total[ids]

    def search(
        self, question: str, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Ids and BM25 scores of the best ``k`` passages sharing a term with ``question``
        (ties by id); with ``allowed``, a boolean mask over ids, only those passages."""
        ids, scores = self.score_arrays(self.terms_of.tokens([question])[0])
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


def _buffer(
    recent: dict[int, tuple[array[int], array[int]]],
    term: np.ndarray,
    pid: np.ndarray,
    tf: np.ndarray,
) -> None:
    """Append postings to the buffers, by term."""
    for t, p, f in zip(term.tolist(), pid.tolist(), tf.tolist(), strict=True):
        buffered = recent.get(t)
        if buffered is None:
            buffered = recent[t] = (array("i"), array("H"))
        buffered[0].append(p)
        buffered[1].append(f)


def bm25_idf(n: int, df: int) -> float:
    return float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))


def _interleave(old: np.ndarray, new: np.ndarray, at: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """``old`` and ``new`` in one array: ``new`` at positions ``at``, ``old`` where ``kept``."""
    out = np.empty(len(old) + len(new), dtype=old.dtype)
    out[at] = new
    out[kept] = old
    return out


def export_postings(index: BM25Index, pids: np.ndarray) -> Postings:
    """The postings of passages ``pids`` (live ones) as :meth:`Terms.postings` gives them:
    rows numbered in the order of ``pids``, the index's own vocabulary."""
    row_of = np.full(len(index.live), -1, dtype=np.int64)
    row_of[pids] = np.arange(len(pids))
    # the arrays, then the buffers (read only: searches may run meanwhile)
    buffered = sorted(index.recent.items())
    term = np.concatenate(
        [
            np.repeat(np.arange(len(index.ptr) - 1, dtype=np.int32), np.diff(index.ptr)),
            *(np.full(len(p), t, dtype=np.int32) for t, (p, _) in buffered),
        ]
    )
    ids = np.concatenate([index.ids, *(np.frombuffer(p, dtype=np.int32) for _, (p, _) in buffered)])
    tfs = np.concatenate(
        [index.tfs, *(np.frombuffer(f, dtype=np.uint16) for _, (_, f) in buffered)]
    )
    rows = row_of[ids]
    keep = rows >= 0
    words = sorted(index.vocab, key=index.vocab.__getitem__)
    return Postings(
        words,
        term[keep],
        rows[keep].astype(np.int32),
        tfs[keep],
        index.lengths[pids].astype(np.int32),
    )
