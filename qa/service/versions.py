"""Conditional writes: a document's version tag (``ETag``) against what a client says it
read (``If-Match``)."""

from __future__ import annotations

from qa.core.errors import PreconditionFailedError
from qa.store import StoredDocument


def check_version(doc_id: str, current: StoredDocument | None, if_match: str) -> None:
    """Nothing when ``current`` is at a version ``if_match`` names (``*``: any version;
    quotes and a weak ``W/`` prefix are read past); else :class:`PreconditionFailedError`."""
    tags = {t.strip().removeprefix("W/").strip('"') for t in if_match.split(",")}
    if current is not None and ("*" in tags or current.etag in tags):
        return
    now = "no longer exists" if current is None else f"is at {current.etag}"
    raise PreconditionFailedError(
        f"document {doc_id!r} {now}, not at the version If-Match names: read it again"
    )
