"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

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

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question must contain text, not only whitespace")
        return value.strip()


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
    documents: int
    chunks: int
    detail: str | None = None


class DocumentInfo(BaseModel):
    doc_id: str
    title: str
    source: str
    chunks: int


class DocumentList(BaseModel):
    documents: list[DocumentInfo]


class ErrorBody(BaseModel):
    detail: str
