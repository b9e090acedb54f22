"""What a query reads of an index: the in-process :class:`~qa.index.state.Index`, or one
request's view of a collection held in Milvus (:class:`qa.collection.milvus.MilvusView`). The
retrievers and the answer stage see only this."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

import numpy as np

from qa.chunk import Chunk, Sentence
from qa.index.companion import CompanionVectors
from qa.index.state import Selection
from qa.store import Filters, Manifest, StoredDocument
from qa.vectors import VectorKind


class PassageRows(Protocol):
    def __getitem__(self, row: int, /) -> Chunk: ...

    def __len__(self) -> int: ...

    def sentences_of(self, row: int, /) -> list[int]: ...

    def values(self) -> Iterable[Chunk]: ...


class SentenceRows(Protocol):
    def __getitem__(self, sid: int, /) -> Sentence: ...


class Terms(Protocol):
    def terms(self, text: str) -> set[str]: ...

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

    def sentence_terms(self, sentence: int) -> set[str]: ...

    def vectors_of(self, which: VectorKind, ids: Sequence[int]) -> np.ndarray: ...
