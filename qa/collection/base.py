"""What the service sees of a collection, wherever it lives: :class:`Collection` (reads
and writes) and :class:`Home` (where it is kept: opened, created, found). Two
implementations stand side by side — an index folder (:mod:`qa.collection.folder`) and a
collection held whole in Milvus (:mod:`qa.collection.milvus`) — chosen once by
:func:`qa.collection.home_of`."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from qa.core.config import Settings
from qa.embed import Embedder
from qa.embed.companion import CompanionEncoder
from qa.index import IndexView, Precondition, WriteResult
from qa.ingest import Document

if TYPE_CHECKING:
    from qa.collection.folder import FolderCollection


class Collection(Protocol):
    """A collection open for reading and writing."""

    embedder: Embedder | None

    @property
    def where(self) -> str:
        """Where it is kept, for messages."""
        ...

    def snapshot(self) -> AbstractContextManager[IndexView]:
        """The committed state, unchanged while the caller reads it."""
        ...

    def refresh(self) -> bool:
        """Take what other processes committed (True when the state changed)."""
        ...

    def unavailable(self) -> str | None:
        """Why it cannot answer now, where it lives elsewhere (``None``: it can)."""
        ...

    def keep_replaced(self) -> None:
        """Serving: keep what a replaced version's queries in other processes still read a
        while after the write (until :meth:`settle`)."""
        ...

    def settle(self) -> None:
        """Finish what :meth:`keep_replaced` put off (the service is stopping)."""
        ...

    def use_model(self, embedder: Embedder, companion: CompanionEncoder | None = None) -> None:
        """Embed with ``embedder`` (and ``companion``) from now on, checked against the
        model the collection was built with."""
        ...

    def upsert(self, documents: Sequence[Document], progress: bool = False) -> list[WriteResult]:
        """Add or replace ``documents`` (by id); unchanged ones cost nothing."""
        ...

    def replace(
        self, document: Document, precondition: Precondition | None = None
    ) -> list[WriteResult]:
        """Replace a document that exists (an unknown id changes nothing), if
        ``precondition`` holds at the commit."""
        ...

    def delete(
        self, doc_ids: Sequence[str], precondition: Precondition | None = None
    ) -> list[WriteResult]:
        """Delete documents: all or nothing, and nothing unless ``precondition`` holds."""
        ...

    def folder(self, action: str) -> FolderCollection:
        """The collection as an index folder, to ``action`` it (copy, reindex, migrate);
        a clear error where it is not one."""
        ...


class Home(Protocol):
    """Where a collection is kept, and how it is opened and created there."""

    settings: Settings  # what names it

    @property
    def where(self) -> str: ...

    def exists(self) -> bool:
        """Whether the collection has been created."""
        ...

    def open(
        self, embedder: Embedder | None, writable: bool, companion: CompanionEncoder | None
    ) -> Collection: ...

    def create(
        self,
        embedder: Embedder,
        documents: Sequence[Document],
        language: str | None,
        progress: bool,
        replace: bool,
        companion: CompanionEncoder | None,
    ) -> Collection:
        """The collection holding ``documents`` and nothing else (those it held that
        ``documents`` does not are only dropped with ``replace``)."""
        ...

    def beside(self, folder: Path) -> Home:
        """A home for a collection of its own named after ``folder`` (an evaluation's):
        that folder, or the Milvus collection named after it."""
        ...
