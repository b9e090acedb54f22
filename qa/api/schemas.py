"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import date

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
)

from qa.index import Filters
from qa.ingest import MAX_ID_LENGTH

MetadataValue = StrictStr | StrictInt | StrictFloat | StrictBool

MAX_QUESTION_CHARS = 2000
MAX_TOP_K = 50


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        ...,
        min_length=1,
        max_length=MAX_QUESTION_CHARS,
        description="The question, in any language.",
        examples=["what did Huang say about investors?"],
    )
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="How many passages to return.")
    filters: QueryFilters | None = Field(
        None, description="Only cite documents matching all of these (applied before the top-k)."
    )

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question must contain text, not only whitespace")
        return value.strip()


class QueryFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    doc_id: list[str] | None = Field(None, description="Only these documents.")
    source: str | None = Field(None, description="Only documents with this exact source.")
    published_after: date | None = Field(None, description="Published on or after this date.")
    published_before: date | None = Field(None, description="Published on or before this date.")
    metadata: dict[str, MetadataValue] = Field(
        default_factory=dict, description="Metadata values that must match exactly."
    )

    def to_filters(self) -> Filters:
        return Filters(
            doc_ids=frozenset(self.doc_id) if self.doc_id is not None else None,
            source=self.source,
            published_after=self.published_after,
            published_before=self.published_before,
            metadata=tuple(sorted(self.metadata.items())),
        )


class Citation(BaseModel):
    doc_id: str
    title: str
    source: str
    char_start: int = Field(description="Offset of the passage's first character in the document.")
    char_end: int = Field(description="Offset just past the passage's last character.")


class Highlight(BaseModel):
    char_start: int = Field(description="Offset of the sentence's first character in the document.")
    char_end: int
    text: str = Field(description="The sentence of the passage that best answers the question.")


class QueryResult(BaseModel):
    rank: int
    score: float = Field(
        description="Relevance under the service's method (hybrid: weighted sum of z-scores; "
        "dense: cosine; bm25: BM25). Higher is better; compare within one response."
    )
    text: str = Field(description="The passage, exactly as in the document.")
    chunk_id: str
    citation: Citation
    highlight: Highlight


class QueryResponse(BaseModel):
    question: str
    results: list[QueryResult]
    took_ms: float


class Health(BaseModel):
    status: str = Field(description="'ok', or 'no_index' when no index is loaded.")
    model: str
    vector_store: str = Field(description="Where the vectors live: 'faiss' or 'milvus'.")
    documents: int
    chunks: int
    detail: str | None = None


class DocumentInfo(BaseModel):
    doc_id: str
    title: str
    source: str
    chunks: int
    published: date | None = None
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)


class DocumentDetail(DocumentInfo):
    sha256: str = Field(description="SHA-256 of the stored text.")
    characters: int = Field(description="Length of the stored text.")


class DocumentIn(BaseModel):
    """An article to add (POST) or replace (PUT)."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_ID_LENGTH,
        description="Stable id; default: derived from the text's hash. No '/', '\\' or "
        "control characters.",
    )
    title: str | None = Field(None, description="Default: the text's first line.")
    text: str = Field(..., min_length=1, description="The article, plain text.")
    source: str = Field("api", description="Where the article comes from (URL, feed, ...).")
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    published: date | None = None


class WriteResultOut(BaseModel):
    doc_id: str
    status: str = Field(description="'new', 'updated', 'unchanged' or 'deleted'.")
    chunks: int = Field(description="Passages the document is indexed as (0 once deleted).")


class WriteResponse(BaseModel):
    documents: list[WriteResultOut]
    took_ms: float


class DocumentList(BaseModel):
    documents: list[DocumentInfo]


class ErrorBody(BaseModel):
    detail: str


QueryRequest.model_rebuild()
