"""The Milvus collections of a replicated collection, and the rows written to them.

Five collections share the prefix ``QA_MILVUS_COLLECTION`` (``<p>`` below):

* ``<p>_documents`` — one *head* per live document: its version, title, source, date,
  metadata, SHA-256 and how many passages and sentences it has. Writing the head is a
  write's commit (see :mod:`qa.collection.milvus.writer`).
* ``<p>_texts`` — the document's text, in parts of at most :data:`TEXT_PART` characters,
  one row per (version, part).
* ``<p>_passages`` — one row per passage: its vector, document and version, offsets,
  number, text, the ids of the sentences it holds, the fields a filter reads, and its
  stemmed terms (:func:`encode_terms`) from which Milvus's BM25 function derives the
  lexical signal.
* ``<p>_sentences`` — one row per sentence: its vector, document and version, offsets, the
  passages holding it and its stemmed terms.
* ``<p>_meta`` — one row: the collection's manifest (model, language, chunking).

Rows of texts, passages and sentences say when they were ``written`` (seconds since the
epoch): rows no head names that are older than a write can take were left by a write that
never committed, and are removed.

A document version is a random multiple of :data:`VERSION_STRIDE`; its passages and its
sentences take the ids from there on, so a version's ids are its own and a document's
sentences are consecutive (the answer stage joins adjacent ones). Every collection needs a
vector field in Milvus: documents, texts and meta carry a two-dimensional placeholder.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from qa.milvus.expressions import add_filter_fields

if TYPE_CHECKING:
    from pymilvus import MilvusClient

KINDS = ("documents", "texts", "passages", "sentences", "meta")
TEXT_PART = 16_000  # characters of a text row (Milvus strings hold 65,535 bytes)
MAX_STRING = 65_535
MAX_HELD = 4_096  # sentences a passage holds, passages a sentence is held by (Milvus's cap)
VERSION_STRIDE = 1 << 20  # ids of one document version: its passages and its sentences
PLACEHOLDER = [1.0, 0.0]  # the vector of rows that have none
# BM25 of the lexical signal, as the in-process index scores it (qa.index.lexical)
BM25_PARAMS = {"bm25_k1": 0.9, "bm25_b": 0.4}


def new_version() -> int:
    """A document version: a random multiple of :data:`VERSION_STRIDE` below 2**63."""
    return (secrets.randbits(62 - 20) + 1) * VERSION_STRIDE


def encode_terms(terms: Iterable[str]) -> str:
    """Stemmed terms as Milvus's ``standard`` analyzer keeps them, one token each: hex of
    their UTF-8 after an ``x`` (the analyzer would split or lowercase some terms, and Milvus
    Lite has no whitespace tokenizer)."""
    return " ".join("x" + term.encode("utf-8").hex() for term in terms)


def collection_names(prefix: str) -> dict[str, str]:
    return {kind: f"{prefix}_{kind}" for kind in KINDS}


def _schema(client: MilvusClient, text_key: bool) -> Any:
    """A schema keyed by ``key`` (a string) or ``id`` (an integer)."""
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    if text_key:
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=MAX_STRING)
    else:
        schema.add_field("id", DataType.INT64, is_primary=True)
    return schema


def _version_fields(schema: Any, filters: bool) -> None:
    """The document, version and write time of a row; ``filters``: and what filters read."""
    from pymilvus import DataType

    if filters:
        add_filter_fields(schema)  # doc_id among them
    else:
        schema.add_field("doc_id", DataType.VARCHAR, max_length=MAX_STRING)
    schema.add_field("version", DataType.INT64)
    schema.add_field("written", DataType.INT64)


def _documents(client: MilvusClient, dim: int) -> Any:
    from pymilvus import DataType

    schema = _schema(client, text_key=True)  # key: the document id
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=len(PLACEHOLDER))
    _version_fields(schema, filters=True)
    schema.add_field("head", DataType.JSON)
    return schema


def _texts(client: MilvusClient, dim: int) -> Any:
    from pymilvus import DataType

    schema = _schema(client, text_key=True)  # key: "<version>.<part>"
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=len(PLACEHOLDER))
    _version_fields(schema, filters=False)
    schema.add_field("text", DataType.VARCHAR, max_length=MAX_STRING)
    return schema


def _passages(client: MilvusClient, dim: int) -> Any:
    from pymilvus import DataType, Function, FunctionType

    schema = _schema(client, text_key=False)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    _version_fields(schema, filters=True)
    for name in ("number", "char_start", "char_end"):
        schema.add_field(name, DataType.INT64)
    schema.add_field("text", DataType.VARCHAR, max_length=MAX_STRING)
    schema.add_field(
        "sentences", DataType.ARRAY, element_type=DataType.INT64, max_capacity=MAX_HELD
    )
    schema.add_field(
        "terms",
        DataType.VARCHAR,
        max_length=MAX_STRING,
        enable_analyzer=True,
        analyzer_params={"tokenizer": "standard"},
    )
    schema.add_field("lexical", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="bm25",
            function_type=FunctionType.BM25,
            input_field_names=["terms"],
            output_field_names=["lexical"],
        )
    )
    return schema


def _sentences(client: MilvusClient, dim: int) -> Any:
    from pymilvus import DataType

    schema = _schema(client, text_key=False)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    _version_fields(schema, filters=False)
    for name in ("char_start", "char_end"):
        schema.add_field(name, DataType.INT64)
    schema.add_field("chunks", DataType.ARRAY, element_type=DataType.INT64, max_capacity=MAX_HELD)
    schema.add_field("terms", DataType.VARCHAR, max_length=MAX_STRING)
    return schema


def _meta(client: MilvusClient, dim: int) -> Any:
    from pymilvus import DataType

    schema = _schema(client, text_key=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=len(PLACEHOLDER))
    schema.add_field("value", DataType.JSON)
    return schema


SCHEMAS = {
    "documents": _documents,
    "texts": _texts,
    "passages": _passages,
    "sentences": _sentences,
    "meta": _meta,
}


def create_collections(
    client: MilvusClient,
    prefix: str,
    dim: int,
    index_type: str,
    index_params: dict[str, Any],
    consistency: str,
) -> None:
    """Create whichever of the five collections ``prefix`` names do not exist yet."""
    for kind, name in collection_names(prefix).items():
        if client.has_collection(name):
            continue
        params = client.prepare_index_params()
        if kind in ("passages", "sentences"):
            params.add_index(
                "vector", index_type=index_type, metric_type="IP", params=_both(index_params)
            )
        else:
            params.add_index("vector", index_type="FLAT", metric_type="IP")
        if kind == "passages":
            params.add_index(
                "lexical",
                index_type="SPARSE_INVERTED_INDEX",
                metric_type="BM25",
                params=_both(BM25_PARAMS),
            )
        client.create_collection(
            name,
            schema=SCHEMAS[kind](client, dim),
            index_params=params,
            consistency_level=consistency,
        )
    for name in collection_names(prefix).values():
        client.load_collection(name)


def _both(params: dict[str, Any]) -> dict[str, Any]:
    """Index parameters as a server reads them (each its own key) and as Milvus Lite does
    (JSON under ``params``: it ignores the others)."""
    return {**params, "params": dict(params)} if params else {}
