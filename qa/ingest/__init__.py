"""Step 1: read articles into :class:`Document` records (text kept verbatim, with the spans
worth indexing)."""

from qa.ingest.cleaning import article_segments, is_boilerplate, title_of
from qa.ingest.documents import (
    MAX_ID_LENGTH,
    Document,
    MetadataValue,
    content_hash,
    make_text_document,
    validate_doc_id,
)
from qa.ingest.readers import (
    documents_from_file,
    iter_documents,
    iter_source,
    json_object,
    load_documents,
    read_bytes,
)

__all__ = [
    "MAX_ID_LENGTH",
    "Document",
    "MetadataValue",
    "article_segments",
    "content_hash",
    "documents_from_file",
    "is_boilerplate",
    "iter_documents",
    "iter_source",
    "json_object",
    "load_documents",
    "make_text_document",
    "read_bytes",
    "title_of",
    "validate_doc_id",
]
