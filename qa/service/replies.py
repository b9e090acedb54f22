"""A reply as the JSON body the HTTP API returns and ``qa ask --json`` prints (the API's
``QueryResponse`` validates and documents the same body)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from qa.answer import Answer, Reply


def answer_body(answer: Answer) -> dict[str, Any]:
    c = answer.citation
    return {
        "text": answer.text,
        "citation": {
            "doc_id": c.doc_id,
            "title": c.title,
            "source": c.source,
            "char_start": c.char_start,
            "char_end": c.char_end,
            "pages": c.pages,
        },
        "language": answer.language,
        "translation": asdict(answer.translation) if answer.translation else None,
        "translation_note": answer.translation_note,
        "confidence": answer.confidence,
    }


def reply_body(reply: Reply) -> dict[str, Any]:
    """The body of ``POST /query`` for ``reply``."""
    result = reply.result
    return {
        "question": result.question,
        "language": reply.language,
        "answer": answer_body(reply.answer) if reply.answer else None,
        "answer_note": reply.note,
        "results": [
            {
                "rank": hit.rank,
                "score": round(hit.score, 6),
                "text": hit.chunk.text,
                "chunk_id": hit.chunk.chunk_id,
                "citation": {
                    "doc_id": hit.document.doc_id,
                    "title": hit.document.title,
                    "source": hit.document.source,
                    "char_start": hit.chunk.char_start,
                    "char_end": hit.chunk.char_end,
                    "pages": hit.document.pages_of(hit.chunk.char_start, hit.chunk.char_end),
                },
                "highlight": {
                    "char_start": hit.highlight[0],
                    "char_end": hit.highlight[1],
                    "text": hit.document.text[hit.highlight[0] : hit.highlight[1]],
                },
            }
            for hit in result.hits
        ],
        "took_ms": round(reply.took_ms, 2),
    }
