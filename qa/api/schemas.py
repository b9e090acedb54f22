"""Request and response bodies of the HTTP API, and their conversions from the service's
records."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date
from typing import Annotated

from pydantic import (
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
)

from qa.answer import Reply
from qa.core.errors import IngestError
from qa.index import WriteResult
from qa.ingest import MAX_ID_LENGTH, Document, content_hash, make_text_document, validate_doc_id
from qa.service import Health
from qa.service.limits import (
    DEFAULT_TOP_K,
    MAX_FILTER_IDS,
    MAX_FILTER_KEYS,
    MAX_QUESTION_CHARS,
    MAX_TOP_K,
    clean_question,
)
from qa.service.replies import reply_body
from qa.store import Filters, StoredDocument


def _iso_date(value: object) -> object:
    """A date written `YYYY-MM-DD` (lax parsing would read the number 0 as 1970-01-01)."""
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a date written YYYY-MM-DD") from None
    raise ValueError("a date must be written YYYY-MM-DD, as a string")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
# Finite numbers only: NaN and Infinity are not JSON, and would come back as null.
MetadataValue = StrictStr | StrictInt | Annotated[StrictFloat, AllowInfNan(False)] | StrictBool


class QueryFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    doc_id: list[str] | None = Field(
        None, max_length=MAX_FILTER_IDS, description="Only these documents."
    )
    source: str | None = Field(None, description="Only documents with this exact source.")
    published_after: IsoDate | None = Field(None, description="Published on or after this date.")
    published_before: IsoDate | None = Field(None, description="Published on or before this date.")
    metadata: dict[str, MetadataValue] = Field(
        default_factory=dict,
        max_length=MAX_FILTER_KEYS,
        description="Metadata values that must match exactly.",
    )

    def to_filters(self) -> Filters:
        return Filters(
            doc_ids=frozenset(self.doc_id) if self.doc_id is not None else None,
            source=self.source,
            published_after=self.published_after,
            published_before=self.published_before,
            metadata=tuple(sorted(self.metadata.items())),
        )


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        ...,
        min_length=1,
        max_length=MAX_QUESTION_CHARS,
        description="The question, in any language.",
        examples=["what did Huang say about investors?"],
    )
    top_k: StrictInt = Field(
        DEFAULT_TOP_K, ge=1, le=MAX_TOP_K, description="How many passages to return."
    )
    filters: QueryFilters | None = Field(
        None, description="Only cite documents matching all of these (applied before the top-k)."
    )
    answer: StrictBool = Field(
        True, description="Find the answer among the passages (false: passages only, faster)."
    )

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        return clean_question(value)


class Citation(BaseModel):
    doc_id: str
    title: str
    source: str
    char_start: int = Field(description="Offset of the passage's first character in the document.")
    char_end: int = Field(description="Offset just past the passage's last character.")
    pages: list[int] | None = Field(
        None,
        description="The pages (slides for a presentation) the span lies on, numbered from 1, "
        "for PDF, PowerPoint and OpenDocument presentations; null for unpaginated documents.",
    )


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


class Translation(BaseModel):
    lang: str = Field(description="The question's language (ISO 639-1).")
    text: str = Field(description="The answer translated into it (machine translation).")


class AnswerOut(BaseModel):
    text: str = Field(
        description="The sentence (or two adjacent sentences) that answers the question, "
        "exactly as in the document: "
        "document text[citation.char_start:citation.char_end]."
    )
    citation: Citation
    language: str = Field(description="The answer's own language: the document's (ISO 639-1).")
    translation: Translation | None = Field(
        description="The answer in the question's language, when that differs from the "
        "document's and an offline translator covers the pair; otherwise null."
    )
    translation_note: str | None = Field(
        None,
        description="Why there is no translation, when the question's language differs from "
        "the document's and no offline translator covers the pair.",
    )
    confidence: float = Field(
        ge=0,
        le=1,
        description="How likely this text answers the question (calibrated: of the answers "
        "given with confidence about p, a share of about p is right; docs/answers.md). "
        "Answers below the fitted threshold (or QA_ANSWER_MIN_CONFIDENCE) are not given.",
    )


class QueryResponse(BaseModel):
    question: str
    language: str = Field(description="The question's detected language (ISO 639-1).")
    answer: AnswerOut | None = Field(
        description="The answer, or null when the articles don't say (or the request asked "
        "for passages only); the passages are returned either way."
    )
    answer_note: str | None = Field(
        None,
        description="Why the answer is null: the question has no letters or digits, or the "
        "articles don't say (null when there is an answer or none was asked for).",
    )
    results: list[QueryResult]
    took_ms: float

    @classmethod
    def from_reply(cls, reply: Reply) -> QueryResponse:
        """The API's view of a :class:`~qa.answer.Reply` (the body of
        :func:`qa.service.replies.reply_body`, which ``qa ask --json`` prints too)."""
        return cls.model_validate(reply_body(reply))


class HealthOut(BaseModel):
    status: str = Field(
        description="'ok'; 'no_index' when no index is loaded; 'unavailable' when the "
        "vector store cannot answer now (`detail` says why)."
    )
    model: str
    vector_store: str = Field(description="Where the vectors live: 'faiss' or 'milvus'.")
    documents: int
    chunks: int
    generation: int | None = Field(
        None,
        description="The commit the live index is at (it grows with every write); replicas "
        "of one index at the same generation serve the same state.",
    )
    detail: str | None = Field(None, description="Why there is no index, when there is none.")

    @classmethod
    def from_health(cls, health: Health) -> HealthOut:
        return cls(**asdict(health))


class DocumentInfo(BaseModel):
    doc_id: str
    title: str
    source: str
    chunks: int
    published: date | None = None
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)

    @classmethod
    def from_stored(cls, d: StoredDocument) -> DocumentInfo:
        return cls(
            doc_id=d.doc_id,
            title=d.title,
            source=d.source,
            chunks=d.n_chunks,
            published=date.fromisoformat(d.published) if d.published else None,
            metadata=d.metadata,
        )


class DocumentDetail(DocumentInfo):
    sha256: str = Field(description="SHA-256 of the stored text.")
    characters: int = Field(description="Length of the stored text.")
    text: str = Field(description="The stored text: citations' offsets index into it.")
    pages: list[int] = Field(
        default_factory=list,
        description="Where each page (or slide) starts in `text`: page n begins at offset "
        "`pages[n - 1]`. Empty for unpaginated documents.",
    )

    @classmethod
    def from_stored(cls, d: StoredDocument) -> DocumentDetail:
        info = DocumentInfo.from_stored(d).model_dump()
        text = d.text
        return cls(**info, sha256=d.sha256, characters=len(text), text=text, pages=list(d.pages))


class DocumentList(BaseModel):
    documents: list[DocumentInfo]


class DocumentIn(BaseModel):
    """An article to add (POST) or replace (PUT)."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(
        None,
        description="Stable id; default: `doc-` and the start of the text's SHA-256. At most "
        f"{MAX_ID_LENGTH} characters, in segments separated by '/' (none empty, '.' or "
        "'..'); no '\\', control or line-separator characters, or whitespace at either end.",
    )
    title: str | None = Field(None, description="Default: the text's first line.")
    text: str = Field(..., min_length=1, description="The article, plain text.")
    source: str = Field("api", description="Where the article comes from (URL, feed, ...).")
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    published: IsoDate | None = Field(None, description="The article's date: `YYYY-MM-DD`.")

    def to_document(self, url_id: str | None = None) -> Document:
        """The document to store; ``url_id``: the id in the URL of a PUT."""
        if url_id is not None and self.id is not None and self.id != url_id:
            raise IngestError(f"id in the body ({self.id!r}) differs from the URL's ({url_id!r})")
        doc_id = url_id if url_id is not None else self.id
        if doc_id is None:
            doc_id = f"doc-{content_hash(self.text)[:16]}"
        return make_text_document(
            validate_doc_id(doc_id),
            self.text,
            self.source,
            self.title,
            self.published.isoformat() if self.published else None,
            self.metadata,
        )


class WriteResultOut(BaseModel):
    doc_id: str
    status: str = Field(description="'new', 'updated', 'unchanged' or 'deleted'.")
    chunks: int = Field(description="Passages the document is indexed as (0 once deleted).")


class WriteResponse(BaseModel):
    documents: list[WriteResultOut]
    took_ms: float
    skipped: list[str] = Field(
        default_factory=list,
        description="Bad `.jsonl` records left out (`skip_invalid`), each with its line.",
    )

    @classmethod
    def from_results(cls, results: Sequence[WriteResult], started: float) -> WriteResponse:
        return cls(
            documents=[
                WriteResultOut(doc_id=r.doc_id, status=r.status, chunks=r.chunks) for r in results
            ],
            took_ms=round((time.perf_counter() - started) * 1000, 2),
        )


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, machine-readable: e.g. 'invalid_request', 'not_found'.")
    message: str = Field(description="What is wrong and, where it helps, what to do.")
    field: str | None = Field(
        None, description="The request field at fault (dotted path), when there is one."
    )


class ErrorBody(BaseModel):
    """The body of every error response (4xx and 5xx)."""

    error: ErrorDetail
