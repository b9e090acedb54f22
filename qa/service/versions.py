"""Conditional writes: a document's version tag (``ETag``) against what a client says it
read (``If-Match``)."""

from __future__ import annotations

from collections.abc import Mapping

from qa.core.errors import PreconditionFailedError
from qa.index import Precondition
from qa.store import StoredDocument


def precondition(doc_id: str, if_match: str | None) -> Precondition | None:
    """The check a write of ``doc_id`` makes at its commit for ``if_match`` (None: none).
    The collection makes it under its write lock (on an index folder, the folder's, so
    that it holds across processes), on what is committed then."""
    if if_match is None:
        return None

    def check(documents: Mapping[str, StoredDocument]) -> None:
        check_version(doc_id, documents.get(doc_id), if_match)

    return check


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
