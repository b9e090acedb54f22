"""What a query reads of an index: the in-process :class:`~qa.index.state.Index`, or one
request's view of a collection held in Milvus (:class:`qa.collection.milvus.MilvusView`). The
retrievers and the answer stage see only this."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from qa.chunk import Chunk, Sentence
from qa.index.companion import CompanionVectors
from qa.store import Filters, Manifest, StoredDocument
from qa.vectors import VectorKind


@dataclass(frozen=True)
class Selection:
    """The passages and sentences a filtered query may return."""

    filters: Filters
    chunk_ids: np.ndarray
    sentence_ids: np.ndarray
    chunk_mask: np.ndarray  # boolean over passage ids, for the lexical side

    def ids(self, which: VectorKind) -> np.ndarray:
        """The allowed passage (``chunks``) or sentence ids."""
        return self.chunk_ids if which == "chunks" else self.sentence_ids


class PassageRows(Protocol):
    def __getitem__(self, row: int, /) -> Chunk: ...

    def __len__(self) -> int: ...

    def sentences_of(self, row: int, /) -> list[int]: ...

    def values(self) -> Iterable[Chunk]: ...


class SentenceRows(Protocol):
    def __getitem__(self, sid: int, /) -> Sentence: ...


class Terms(Protocol):
    def terms(self, text: str) -> frozenset[str]: ...

    def idf(self, term: str) -> float: ...


class IndexView(Protocol):
    """The reads of a query (see the module docstring)."""

    @property
    def manifest(self) -> Manifest: ...

    @property
    def generation(self) -> int: ...

    @property
    def documents(self) -> Mapping[str, StoredDocument]: ...

    @property
    def chunks(self) -> PassageRows: ...

    @property
    def sentences(self) -> SentenceRows: ...

    @property
    def chunk_sentences(self) -> Mapping[int, list[int]]: ...

    @property
    def lexical(self) -> Terms: ...

    @property
    def companion(self) -> CompanionVectors | None: ...

    @property
    def language(self) -> str: ...

    def select(self, filters: Filters | None) -> Selection | None: ...

    def search(
        self, which: VectorKind, query: np.ndarray, k: int, selection: Selection | None = None
    ) -> list[tuple[int, float]]: ...

    def search_many(
        self, which: VectorKind, queries: np.ndarray, k: int, selection: Selection | None = None
    ) -> list[list[tuple[int, float]]]: ...

    def search_lexical(
        self, question: str, k: int, selection: Selection | None = None
    ) -> list[tuple[int, float]]: ...

    def sentence_terms(self, sentence: int) -> frozenset[str]: ...

    def vectors_of(self, which: VectorKind, ids: Sequence[int]) -> np.ndarray: ...


class SentenceHolders(Protocol):
    """Passages that say which sentences they hold."""

    def __contains__(self, cid: object, /) -> bool: ...

    def sentences_of(self, cid: int, /) -> list[int]: ...

    def held_ids(self) -> Collection[int]:
        """The passages the view holds (all, or those a request fetched)."""
        ...


class PassageSentences(Mapping[int, list[int]]):
    """``view.chunk_sentences``: the sentences of each passage the view holds."""

    def __init__(self, passages: SentenceHolders) -> None:
        self.passages = passages

    def __getitem__(self, cid: int) -> list[int]:
        if cid not in self.passages:
            raise KeyError(cid)
        return self.passages.sentences_of(cid)

    def __iter__(self) -> Iterator[int]:
        return iter(self.passages.held_ids())

    def __len__(self) -> int:
        return len(self.passages.held_ids())


class ViewBase:
    """What both views of an index share: the manifest's language and generation, and
    :meth:`search` as one row of :meth:`search_many`."""

    manifest: Manifest

    @property
    def language(self) -> str:
        """Main language of the collection's text (ISO 639-1)."""
        return self.manifest.language

    @property
    def generation(self) -> int:
        return self.manifest.generation

    def search_many(
        self, which: VectorKind, queries: np.ndarray, k: int, selection: Selection | None = None
    ) -> list[list[tuple[int, float]]]:
        raise NotImplementedError

    def search(
        self, which: VectorKind, query: np.ndarray, k: int, selection: Selection | None = None
    ) -> list[tuple[int, float]]:
        """Ids and cosines of the ``k`` nearest passages (``chunks``) or sentences to one
        normalised query (see :meth:`search_many`)."""
        return self.search_many(which, np.reshape(query, (1, -1)), k, selection)[0]
