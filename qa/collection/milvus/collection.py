"""A collection held whole in Milvus, served by stateless replicas.

With ``QA_VECTOR_STORE=milvus`` and a Milvus server URI (``QA_MILVUS_MODE=auto``, or
``replica``), texts, offsets, titles, metadata, passage and sentence vectors and the
lexical signal live in the collections ``QA_MILVUS_COLLECTION`` names
(:mod:`qa.collection.milvus.schema`). A replica keeps the collection's manifest and the model; a
query reads what it needs from Milvus (:mod:`qa.collection.milvus.view`), so every replica serves
every committed write at once and its memory does not grow with the collection. Writes:
:mod:`qa.collection.milvus.writer`. Docs: docs/scaling-milvus.md.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from tqdm import tqdm

from qa.collection.folder import FolderCollection, model_info
from qa.collection.milvus.catalog import Catalog
from qa.collection.milvus.retire import READ_BY_ID, Retirer
from qa.collection.milvus.view import MilvusView, Statistics
from qa.collection.milvus.writer import ReplicaWriter, drop_rows
from qa.core.config import Settings
from qa.core.errors import (
    IndexMismatchError,
    IndexNotFoundError,
)
from qa.embed import Embedder
from qa.embed.companion import CompanionEncoder
from qa.index.planner import (
    Precondition,
    WriteResult,
    check_documents,
    refuse_dropping,
    unknown_document,
)
from qa.index.state import Index
from qa.index.terms import Terms, corpus_language
from qa.ingest import Document
from qa.milvus.connection import MilvusConnection, MilvusOptions
from qa.store import Chunking, Manifest, VectorsRecord
from qa.vectors.base import HNSW_EF_CONSTRUCTION

SERVER_SCHEMES = ("http://", "https://", "tcp://", "grpc://", "unix:")


def replica_mode(settings: Settings) -> bool:
    """Whether ``settings`` keep the whole collection in Milvus (see the module docstring)."""
    if settings.vector_store != "milvus":
        return False
    if settings.milvus_mode != "auto":
        return settings.milvus_mode == "replica"
    return (settings.milvus_uri or "").startswith(SERVER_SCHEMES)


def catalog_of(settings: Settings) -> Catalog:
    return Catalog(MilvusConnection(MilvusOptions.from_settings(settings, HNSW_EF_CONSTRUCTION)))


class MilvusCollection:
    """The collection in Milvus, for reading and writing (see the module docstring)."""

    def __init__(self, catalog: Catalog, manifest: Manifest, embedder: Embedder | None) -> None:
        self.catalog, self.manifest, self.embedder = catalog, manifest, embedder
        self.terms = Terms(manifest.language)  # stems questions and passages alike
        self.statistics = Statistics(catalog)
        self._mutex = threading.Lock()  # one writer in the process
        self.retirer: Retirer | None = None  # serving: replaced rows kept a while

    def keep_replaced(self) -> None:
        """Keep a replaced version's sentences and texts readable a while, for the queries
        of other replicas reading it (see :mod:`qa.collection.milvus.retire`)."""
        if self.retirer is None:
            catalog = self.catalog
            self.retirer = Retirer(lambda versions: drop_rows(catalog, READ_BY_ID, versions))

    def settle(self) -> None:
        """Delete now what :meth:`keep_replaced` keeps (the service is stopping)."""
        if self.retirer is not None:
            self.retirer.settle()

    @property
    def where(self) -> str:
        options = self.catalog.connection.options
        return f"Milvus collection {options.prefix!r} at {options.uri}"

    @classmethod
    def open(cls, catalog: Catalog, embedder: Embedder | None) -> MilvusCollection:
        if catalog.exists():
            catalog.load_all()  # after a Milvus restart its collections are released
        manifest = catalog.manifest()
        options = catalog.connection.options
        if manifest is None:
            raise IndexNotFoundError(
                f"no collection {options.prefix!r} at {options.uri} yet: add documents "
                "(`qa add`, POST /documents) or build one with `qa index`"
            )
        collection = cls(catalog, manifest, None)
        if embedder is not None:
            collection.use_model(embedder)
        return collection

    @classmethod
    def create(
        cls,
        catalog: Catalog,
        embedder: Embedder,
        chunking: Chunking,
        language: str,
    ) -> MilvusCollection:
        """An empty collection (the one there is, when ``catalog`` already holds one). The
        second encoder's passage vectors are not kept in Milvus."""
        existing = catalog.manifest()
        if existing is not None:
            return cls.open(catalog, embedder)
        manifest = Manifest.new(
            model_info(embedder),
            language,
            chunking,
            VectorsRecord(kind="milvus", mode="replica"),
            0,
            None,
        )
        catalog.create(manifest)
        return cls(catalog, manifest, embedder)

    def use_model(self, embedder: Embedder, companion: CompanionEncoder | None = None) -> None:
        """Embed with ``embedder`` (the second encoder's vectors are not kept in Milvus:
        ``companion`` is not used)."""
        built = self.manifest.model
        if (built.name, built.dim) != (embedder.name, embedder.dim):
            raise IndexMismatchError(
                f"{self.where} was built with model {built.name!r} (dim {built.dim}), but the "
                f"service uses {embedder.name!r}; set QA_MODEL={built.name}, or name another "
                "collection with QA_MILVUS_COLLECTION"
            )
        self.embedder = embedder

    @contextmanager
    def snapshot(self) -> Iterator[MilvusView]:
        """A view for one request (see :mod:`qa.collection.milvus.view`)."""
        view = MilvusView(self.catalog, self.manifest, self.terms, self.statistics)
        try:
            yield view
        finally:
            view.close()

    def refresh(self) -> bool:
        """Nothing to catch up with: every request reads the committed state."""
        return False

    def unavailable(self) -> str | None:
        """Why the collection cannot answer now (``None``: it can). Collections Milvus
        released (a restart does that) are loaded again on the way."""
        return self.catalog.unavailable()

    def folder(self, action: str) -> FolderCollection:
        raise IndexMismatchError(
            f"cannot {action} a collection held whole in Milvus ({self.where}); "
            "Milvus's own tools back it up, and its vector index is Milvus's own "
            "(QA_MILVUS_INDEX when it is created)"
        )

    def _writer(self) -> ReplicaWriter:
        retire = self.retirer.retire if self.retirer is not None else None
        return ReplicaWriter(
            self.catalog, self.manifest.chunking, self.terms, self.embedder, retire
        )

    def upsert(self, documents: Sequence[Document], progress: bool = False) -> list[WriteResult]:
        check_documents(documents)
        with self._mutex:
            if not progress:
                return self._writer().upsert(documents)
            with tqdm(total=len(documents), unit="doc", desc="index", leave=False) as bar:
                return self._writer().upsert(documents, bar.update)

    def replace(
        self, document: Document, precondition: Precondition | None = None
    ) -> list[WriteResult]:
        """Replace a document that exists, if ``precondition`` holds on the heads read just
        before the commit (see :mod:`qa.collection.milvus.writer`)."""
        check_documents([document])
        with self._mutex:
            if not self.catalog.heads([document.doc_id]):
                raise unknown_document(document.doc_id)
            return self._writer().upsert([document], precondition=precondition)

    def delete(
        self, doc_ids: Sequence[str], precondition: Precondition | None = None
    ) -> list[WriteResult]:
        with self._mutex:
            return self._writer().delete(doc_ids, precondition)

    def build(
        self, documents: Sequence[Document], progress: bool, replace: bool
    ) -> list[WriteResult]:
        """Make the collection hold ``documents`` and nothing else (``qa index``): those it
        holds that ``documents`` do not are only deleted with ``replace``."""
        check_documents(documents)
        keep = {d.doc_id for d in documents}
        with self.snapshot() as view:
            dropped = sorted(d for d in view.documents if d not in keep)
        if not replace:
            refuse_dropping(self.where, dropped)
        results = self.upsert(documents, progress)
        if dropped:
            results += self.delete(dropped)
        return results


def new_collection(
    settings: Settings, embedder: Embedder, documents: Sequence[Document], language: str | None
) -> MilvusCollection:
    """The collection ``settings`` name, created when missing."""
    chunking = Chunking(size=settings.chunk_size, overlap=settings.chunk_overlap)
    language = language or corpus_language([d.text for d in documents])
    return MilvusCollection.create(catalog_of(settings), embedder, chunking, language)


def copy_folder(index: Index, settings: Settings, progress: bool = False) -> MilvusCollection:
    """The documents of an index folder's ``index`` copied into the Milvus collection
    ``settings`` name, which must not exist yet: passages, sentences and vectors as they
    are (none re-embedded), the model, language and chunking of the folder's manifest."""
    catalog = catalog_of(settings)
    if catalog.manifest() is not None:
        raise IndexMismatchError(
            f"Milvus collection {settings.milvus_collection!r} at {settings.milvus_uri} exists "
            "already; name a new one with QA_MILVUS_COLLECTION"
        )
    m = index.manifest
    record = VectorsRecord(kind="milvus", mode="replica")
    manifest = Manifest.new(m.model, m.language, m.chunking, record, 0, None)
    catalog.create(manifest)
    collection = MilvusCollection(catalog, manifest, None)
    with tqdm(total=len(index.documents), unit="doc", desc="copy", disable=not progress) as bar:
        collection._writer().copy(index, bar.update)
    return collection
