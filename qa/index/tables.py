"""Passages and sentences of the loaded index, kept in arrays rather than objects.

A million passages and their sentences as Python objects cost gigabytes (each passage also
held its own copy of its text); as columns indexed by their global ids they cost about 30
bytes a passage and 30 a sentence. Reading one builds the familiar :class:`Chunk` or
:class:`Sentence` on the spot, its text sliced from its document's, so what a reader sees is
unchanged. Ids are never reused, so a column grows with the ids ever given, not with the
live rows; a reload packs nothing (it reads the live rows only) but starts from the same ids.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from qa.chunk import Chunk, Sentence
from qa.store import StoredDocument


class _Columns:
    """Columns indexed by id, grown by doubling; ``live`` says which ids hold a row."""

    def __init__(self, **dtypes: type | str) -> None:
        self.columns = {name: np.zeros(0, dtype=dtype) for name, dtype in dtypes.items()}
        self.live = np.zeros(0, dtype=bool)
        self.count = 0

    def grow(self, size: int) -> None:
        if size <= len(self.live):
            return
        size = max(size, 2 * len(self.live), 1024)
        for name, old in [*self.columns.items(), ("live", self.live)]:
            grown = np.zeros(size, dtype=old.dtype)
            grown[: len(old)] = old
            if name == "live":
                self.live = grown
            else:
                self.columns[name] = grown

    def holds(self, row: object) -> bool:
        if not isinstance(row, int | np.integer) or not 0 <= row < len(self.live):
            return False
        return bool(self.live[row])

    def mark(self, ids: np.ndarray, live: bool) -> np.ndarray:
        """Set ``ids`` live or not; returns those whose state changed."""
        ids = np.asarray(ids, dtype=np.int64)
        ids = ids[(ids >= 0) & (ids < len(self.live))] if not live else ids
        changed = np.unique(ids[self.live[ids] != live])
        self.live[changed] = live
        self.count += len(changed) if live else -len(changed)
        return changed

    def ids(self) -> Iterator[int]:
        return iter(np.flatnonzero(self.live).tolist())

    def put(self, ids: np.ndarray, docs: np.ndarray, spans: np.ndarray, **more: np.ndarray) -> None:
        """Rows ``ids``: their documents' ids, offsets (``spans``: start, end) and the
        ``more`` columns."""
        self.grow(int(ids.max()) + 1)
        c = self.columns
        c["doc"][ids] = docs
        c["start"][ids] = spans[:, 0]
        c["end"][ids] = spans[:, 1]
        for name, values in more.items():
            c[name][ids] = values
        self.mark(ids, True)

    def drop(self, ids: np.ndarray) -> np.ndarray:
        """Forget rows ``ids`` (unknown ones ignored); returns those that were held."""
        gone = self.mark(ids, False)
        self.columns["doc"][gone] = None  # the document's id, no longer held
        return gone

    def held(self, ids: np.ndarray) -> np.ndarray:
        """Whether each of ``ids`` holds a row (one boolean each)."""
        inside = (ids >= 0) & (ids < len(self.live))
        out = np.zeros(len(ids), dtype=bool)
        out[inside] = self.live[ids[inside]]
        return out


class _Table:
    """What both tables answer from their rows: membership, ids, size."""

    rows: _Columns

    def __contains__(self, row: object) -> bool:
        return self.rows.holds(row)

    def __iter__(self) -> Iterator[int]:
        return self.rows.ids()

    def __len__(self) -> int:
        return self.rows.count


class PassageTable(_Table, Mapping[int, Chunk]):
    """Passages by id: document, offsets, number in the document; and the sentences each
    holds (``sentences_of``)."""

    def __init__(self, documents: Mapping[str, StoredDocument]) -> None:
        self.documents = documents
        self.rows = _Columns(doc=object, start=np.int32, end=np.int32, number=np.int32)
        # the sentences of passage i: held[first[i] : first[i] + count[i]]
        self.first = np.zeros(0, dtype=np.int64)
        self.count = np.zeros(0, dtype=np.int32)
        self.held = np.zeros(0, dtype=np.int64)
        self.held_size = 0

    def __getitem__(self, cid: int) -> Chunk:
        if not self.rows.holds(cid):
            raise KeyError(cid)
        c = self.rows.columns
        doc_id, start, end = c["doc"][cid], int(c["start"][cid]), int(c["end"][cid])
        text = self.documents[doc_id].text[start:end]
        return Chunk(f"{doc_id}#{int(c['number'][cid])}", doc_id, text, start, end)

    def add(
        self, ids: np.ndarray, docs: np.ndarray, spans: np.ndarray, numbers: np.ndarray
    ) -> None:
        """Passages ``ids``: document ids, offsets, numbers in their documents."""
        if len(ids):
            self.rows.put(ids, docs, spans, number=numbers)

    def remove(self, ids: np.ndarray) -> None:
        gone = self.rows.drop(ids)
        if len(self.count):
            self.count[gone[gone < len(self.count)]] = 0

    def link(self, sentence_ids: np.ndarray, ptr: np.ndarray, holders: np.ndarray) -> None:
        """Record which passages hold sentences ``sentence_ids`` (sentence i is held by
        ``holders[ptr[i]:ptr[i + 1]]``)."""
        if not len(holders):
            return
        table = np.stack([holders, np.repeat(sentence_ids, np.diff(ptr))], axis=1)
        table = table[np.lexsort((table[:, 1], table[:, 0]))]
        passages, starts, counts = np.unique(table[:, 0], return_index=True, return_counts=True)
        size = len(self.rows.live)
        if len(self.first) < size:
            self.first = np.resize(self.first, size)
            self.count = np.concatenate(
                [self.count, np.zeros(size - len(self.count), dtype=np.int32)]
            )
        end = self.held_size + len(table)
        if end > len(self.held):
            self.held = np.resize(self.held, max(end, 2 * len(self.held)))
        self.held[self.held_size : end] = table[:, 1]
        self.first[passages] = self.held_size + starts
        self.count[passages] = counts
        self.held_size = end

    def held_ids(self) -> PassageTable:
        """The passages a view holds: all of them."""
        return self

    def sentences_of(self, cid: int) -> list[int]:
        """Ids of the sentences passage ``cid`` holds, ascending (none for an unknown id)."""
        if not 0 <= cid < len(self.count) or not self.count[cid]:
            return []
        first = int(self.first[cid])
        return self.held[first : first + int(self.count[cid])].tolist()


class SentenceTable(_Table, Mapping[int, Sentence]):
    """Sentences by id: document, offsets, and the passages holding each."""

    def __init__(self) -> None:
        self.rows = _Columns(doc=object, start=np.int32, end=np.int32, first=np.int64)
        self.holders = np.zeros(0, dtype=np.int64)  # first[i]: start, then count, passages
        self.size = 0

    def __getitem__(self, sid: int) -> Sentence:
        if not self.rows.holds(sid):
            raise KeyError(sid)
        c = self.rows.columns
        at = int(c["first"][sid])
        count = int(self.holders[at])
        chunks = tuple(self.holders[at + 1 : at + 1 + count].tolist())
        return Sentence(c["doc"][sid], int(c["start"][sid]), int(c["end"][sid]), chunks)

    def add(
        self,
        ids: np.ndarray,
        docs: np.ndarray,
        spans: np.ndarray,
        ptr: np.ndarray,
        holders: np.ndarray,
    ) -> None:
        """Sentences ``ids``: document ids, offsets, and the passages holding each
        (sentence i: ``holders[ptr[i]:ptr[i + 1]]``)."""
        if not len(ids):
            return
        counts = np.diff(ptr)
        # each sentence's count, then its passages
        firsts = self.size + ptr[:-1] + np.arange(len(ids))
        end = self.size + len(ids) + len(holders)
        if end > len(self.holders):
            self.holders = np.resize(self.holders, max(end, 2 * len(self.holders)))
        self.holders[firsts] = counts
        owner = np.repeat(np.arange(len(ids)), counts)
        self.holders[self.size + np.arange(len(holders)) + owner + 1] = holders
        self.size = end
        self.rows.put(ids, docs, spans, first=firsts)

    def remove(self, ids: np.ndarray) -> None:
        self.rows.drop(ids)
