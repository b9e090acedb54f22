"""One query's view of a replicated collection: what the retrievers and the answer stage
read of an index (:class:`qa.index.IndexView`), fetched from Milvus as they ask for it.

A view lives for one request: what it fetches (heads, passages, sentences, texts) it keeps
until then and no longer, so a replica's memory does not grow with the collection. A
passage a search returns is kept only when its version is its document's head's (fetched
once per document in the view): rows of a write that has not committed, or of a version
just replaced or deleted, are never served, and every document is read at one version.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from qa.chunk import Chunk, Sentence
from qa.collection.milvus.catalog import Catalog
from qa.collection.milvus.schema import encode_terms
from qa.core.errors import ChangedWhileReadError
from qa.index.lexical import bm25_idf
from qa.index.terms import Terms
from qa.index.view import PassageSentences, Selection, ViewBase
from qa.milvus.expressions import filter_expression
from qa.store import Filters, Manifest, StoredDocument
from qa.vectors import VectorKind

PASSAGE_FIELDS = ("doc_id", "version", "number", "char_start", "char_end", "text", "sentences")
FOUND_FIELDS = (*PASSAGE_FIELDS, "vector")  # a found passage is not read again
SENTENCE_FIELDS = ("doc_id", "version", "char_start", "char_end", "chunks", "terms", "vector")
_NONE = np.zeros(0, dtype=np.int64)
STATS_TTL = 600.0  # seconds a count of passages (all, or holding a term) is reused
MAX_TERMS = 10_000
# A term's passages are counted up to this many: a count is a BM25 search for the term
# (Milvus Lite counts a text match by reading every passage: seconds at 100k), and its hits
# cost in proportion to the limit.
DF_LIMIT = 1_000


class StoredText:
    """A document version's text, read from Milvus on first use."""

    def __init__(self, catalog: Catalog, version: int, parts: int) -> None:
        self.catalog, self.version, self.parts = catalog, version, parts
        self._text: str | None = None

    def read(self) -> str:
        if self._text is None:
            self._text = self.catalog.text(self.version, self.parts)
        return self._text


def stored_document(catalog: Catalog, row: dict[str, Any]) -> StoredDocument:
    """The document a head describes; its text is read when asked for."""
    head, version = row["head"], int(row["version"])
    return StoredDocument(
        row["doc_id"],
        head["title"],
        row["source"],
        head["sha256"],
        StoredText(catalog, version, int(head["parts"])),
        head["published"],
        dict(head["metadata"]),
        range(version, version + int(head["chunks"])),
        range(version, version + int(head["sentences"])),
        pages=tuple(head.get("pages") or ()),
    )


class Heads(Mapping[str, StoredDocument]):
    """``view.documents``: the committed documents, fetched by id."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.cache: dict[str, StoredDocument | None] = {}

    def fetch(self, doc_ids: Sequence[str]) -> None:
        """Read the heads of those of ``doc_ids`` not read yet, in one call."""
        missing = [d for d in dict.fromkeys(doc_ids) if d not in self.cache]
        if missing:
            found = self.catalog.heads(missing)
            for d in missing:
                self.cache[d] = stored_document(self.catalog, found[d]) if d in found else None

    def __getitem__(self, doc_id: str) -> StoredDocument:
        self.fetch([doc_id])
        doc = self.cache[doc_id]
        if doc is None:
            raise KeyError(doc_id)
        return doc

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and self.get(doc_id) is not None

    def __len__(self) -> int:
        return self.catalog.count("documents")

    def __iter__(self) -> Iterator[str]:
        return (row["doc_id"] for row in self.catalog.all_heads())

    def values(self) -> Iterator[StoredDocument]:  # type: ignore[override]
        return (stored_document(self.catalog, row) for row in self.catalog.all_heads())

    def current(self, doc_id: str, version: int) -> bool:
        """Whether ``version`` is the committed version of ``doc_id``."""
        doc = self.get(doc_id)
        return doc is not None and bool(doc.chunk_ids) and doc.chunk_ids[0] == version


class Passages:
    """``view.chunks``: passages by id, fetched with the searches that find them."""

    def __init__(self, catalog: Catalog, statistics: Statistics | None = None) -> None:
        self.catalog, self.statistics = catalog, statistics
        self.rows: dict[int, dict[str, Any]] = {}

    def __getitem__(self, cid: int) -> Chunk:
        row = self.rows.get(cid)
        if row is None:
            found = self.catalog.get("passages", [cid], PASSAGE_FIELDS)
            if not found:  # its document was replaced or deleted since the search
                raise ChangedWhileReadError(f"passage {cid} changed while it was read: ask again")
            row = self.rows[cid] = found[0]
        doc_id = row["doc_id"]
        return Chunk(
            f"{doc_id}#{row['number']}", doc_id, row["text"], row["char_start"], row["char_end"]
        )

    def __contains__(self, cid: object) -> bool:
        return cid in self.rows

    def __len__(self) -> int:
        if self.statistics is not None:
            return self.statistics.passages()
        return self.catalog.count("passages")

    def held_ids(self) -> Collection[int]:
        """The passages this request fetched."""
        return self.rows.keys()

    def sentences_of(self, cid: int) -> list[int]:
        row = self.rows.get(cid)
        return [int(s) for s in row["sentences"]] if row is not None else []

    def values(self) -> Iterator[Chunk]:
        """Every passage of the committed documents (for evaluations)."""
        for doc in Heads(self.catalog).values():
            ids = list(doc.chunk_ids)
            for row in self.catalog.get("passages", ids, PASSAGE_FIELDS):
                self.rows[int(row["id"])] = row
            yield from (self[c] for c in ids)


class Sentences:
    """``view.sentences``: sentences by id, with their vectors and terms."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.rows: dict[int, dict[str, Any]] = {}

    def fetch(self, ids: Sequence[int]) -> None:
        missing = [int(i) for i in dict.fromkeys(ids) if int(i) not in self.rows]
        for row in self.catalog.get("sentences", missing, SENTENCE_FIELDS) if missing else ():
            self.rows[int(row["id"])] = row

    def row(self, sid: int) -> dict[str, Any]:
        self.fetch([sid])
        if sid not in self.rows:  # its document was replaced or deleted since the search
            raise ChangedWhileReadError(f"sentence {sid} changed while it was read: ask again")
        return self.rows[sid]

    def __getitem__(self, sid: int) -> Sentence:
        row = self.row(sid)
        chunks = tuple(int(c) for c in row["chunks"])
        return Sentence(row["doc_id"], row["char_start"], row["char_end"], chunks)


class Statistics:
    """What BM25's IDF needs of the whole collection — how many passages there are, and how
    many hold a term — asked of Milvus and kept for :data:`STATS_TTL` seconds (at most
    :data:`MAX_TERMS` terms), so that a question's terms cost a count the first time only.
    Shared by the views of one replica; its size does not depend on the collection's."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._counts: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def _count(self, key: str, term: str | None) -> int:
        """The passages (``term`` None), or those holding ``term``: the hits of a BM25
        search for it (Milvus Lite counts a text match by reading every passage)."""
        now = time.monotonic()
        with self._lock:
            held = self._counts.get(key)
            if held is not None and now - held[0] < STATS_TTL:
                self._counts.move_to_end(key)
                return held[1]
        if term is None:
            count = self.catalog.count("passages")
        else:
            hits = self.catalog.search(
                "passages", encode_terms([term]), "lexical", DF_LIMIT, "", ()
            )
            count = len(hits)
        with self._lock:
            self._counts[key] = (now, count)
            self._counts.move_to_end(key)
            while len(self._counts) > MAX_TERMS:
                self._counts.popitem(last=False)
        return count

    def passages(self) -> int:
        return self._count("", None)

    def holding(self, term: str) -> int:
        """How many passages hold the stemmed ``term``, up to :data:`DF_LIMIT` (terms more
        common than that share the lowest weight)."""
        return self._count(term, term)


class Lexicon:
    """``view.lexical``: the collection language's terms, and their IDF over the passages."""

    def __init__(self, statistics: Statistics, terms: Terms) -> None:
        self.statistics, self.terms_of = statistics, terms

    def terms(self, text: str) -> frozenset[str]:
        return self.terms_of.terms(text)

    def idf(self, term: str) -> float:
        return bm25_idf(self.statistics.passages(), self.statistics.holding(term))


class MilvusView(ViewBase):
    """One query's view of the collection (see the module docstring)."""

    companion = None  # the second encoder's vectors are not kept in Milvus

    def __init__(
        self, catalog: Catalog, manifest: Manifest, terms: Terms, statistics: Statistics
    ) -> None:
        self.catalog, self.manifest = catalog, manifest
        self.documents = Heads(catalog)
        self.chunks = Passages(catalog, statistics)
        self.chunk_sentences = PassageSentences(self.chunks)
        self.sentences = Sentences(catalog)
        self.lexical = Lexicon(statistics, terms)

    def select(self, filters: Filters | None) -> Selection | None:
        """The filter of a query (Milvus applies it before its top k)."""
        return None if filters is None else Selection(filters, _NONE, _NONE, _NONE)

    def search_many(
        self, which: VectorKind, queries: np.ndarray, k: int, selection: Selection | None = None
    ) -> list[list[tuple[int, float]]]:
        """:meth:`search` for each row of ``queries``, in one request."""
        if which != "chunks":
            raise ValueError("a replicated collection searches passages only")
        return self._search(list(np.atleast_2d(queries)), "vector", k, selection)

    def search_lexical(
        self, question: str, k: int, selection: Selection | None = None
    ) -> list[tuple[int, float]]:
        """Ids and BM25 scores of the best ``k`` passages for ``question``."""
        terms = sorted(self.lexical.terms(question))
        if not terms:
            return []
        return self._search([encode_terms(terms)], "lexical", k, selection)[0]

    def _search(
        self,
        queries: Sequence[np.ndarray | str],
        field: str,
        k: int,
        selection: Selection | None,
    ) -> list[list[tuple[int, float]]]:
        expression = filter_expression(selection.filters if selection is not None else None)
        found = self.catalog.search_many("passages", queries, field, k, expression, FOUND_FIELDS)
        self.documents.fetch([row["doc_id"] for hits in found for _, _, row in hits])
        out = []
        for hits in found:
            kept = []
            for pid, score, row in hits:
                if self.documents.current(row["doc_id"], int(row["version"])):
                    self.chunks.rows[pid] = {**row, "id": pid}
                    kept.append((pid, score))
            out.append(kept)
        return out

    def sentence_terms(self, sentence: int) -> frozenset[str]:
        terms = self.sentences.row(sentence)["terms"]
        return frozenset(terms.split()) if terms else frozenset()

    def vectors_of(self, which: VectorKind, ids: Sequence[int]) -> np.ndarray:
        """Stored vectors of the given passages or sentences, one row each."""
        if which == "sentences":
            self.sentences.fetch(ids)  # one call; a row gone since the search is a change
            rows = [self.sentences.row(int(i))["vector"] for i in ids]
        else:
            held = self.chunks.rows  # a passage a search found came with its vector
            by_id = {
                int(i): held[int(i)]["vector"] for i in ids if "vector" in held.get(int(i), {})
            }
            missing = [int(i) for i in dict.fromkeys(ids) if int(i) not in by_id]
            for row in self.catalog.get("passages", missing, ["vector"]) if missing else ():
                by_id[int(row["id"])] = row["vector"]
            if len(by_id) < len(set(ids)):  # a document was replaced since the search
                raise ChangedWhileReadError("a passage changed while it was read: ask again")
            rows = [by_id[int(i)] for i in ids]
        return np.asarray(rows, dtype=np.float32).reshape(len(ids), self.manifest.model.dim)

    def close(self) -> None:
        """Forget what the view fetched."""
        self.chunks.rows.clear()
        self.sentences.rows.clear()
        self.documents.cache.clear()
