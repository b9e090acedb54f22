"""``qa check`` of a collection held whole in Milvus, and ``--repair``.

The check reads every committed document as a query would, without changing anything:

* the manifest parses;
* every head parses, and its text's parts are all there and hash to its SHA-256;
* its passages and sentences are all there, of its version; each passage's text is the
  slice of the document its offsets name, each sentence lies inside the text, and the
  sentences a passage lists are of the same version;
* every passage and sentence vector is finite and of unit length;
* rows no head names, older than :data:`~qa.collection.milvus.writer.STALE` (left by a
  write that died before its commit, or a replaced version a stopped replica kept), are
  counted: they are never served, but take room.

A document another replica rewrites while the check reads it is read again at its new
version. ``--repair`` deletes the damaged documents (head first, then their rows, as a
delete does) and the old rows no head names, and names the documents it dropped.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from qa.collection.folder.check import NORM_TOLERANCE, SHOWN, CheckReport
from qa.collection.milvus.catalog import Catalog, in_list
from qa.collection.milvus.view import PASSAGE_FIELDS, SENTENCE_FIELDS
from qa.collection.milvus.writer import ROW_KINDS, STALE, drop_rows
from qa.core.errors import ChangedWhileReadError, IndexNotFoundError, QAError
from qa.ingest import content_hash


def check_collection(catalog: Catalog) -> CheckReport:
    """Everything the module docstring lists, for the collection ``catalog`` names."""
    options = catalog.connection.options
    report = CheckReport(where=f"Milvus collection {options.prefix!r}")
    try:
        report.manifest = catalog.manifest()
    except QAError as exc:
        report.problems.append(f"manifest: {exc}")
        return report
    if report.manifest is None:
        raise IndexNotFoundError(f"no collection {options.prefix!r} at {options.uri}")
    versions: set[int] = set()
    for row in catalog.all_heads():
        row, problems = _checked(catalog, row)
        versions.add(int(row.get("version", -1)))
        if problems:
            more = [f"and {len(problems) - SHOWN} more"] if len(problems) > SHOWN else []
            shown = problems[:SHOWN] + more
            report.problems += [f"document {row['doc_id']!r}: {p}" for p in shown]
            report.lost.append(str(row["doc_id"]))
            continue
        report.documents += 1
        report.passages += int(row["head"]["chunks"])
        report.sentences += int(row["head"]["sentences"])
    report.orphans = _orphans(catalog, versions)
    if report.orphans:
        count = len(report.orphans)
        report.problems.append(
            f"{count} versions' rows that no document names are older than {STALE // 60} "
            "minutes (left by interrupted writes; never served)"
        )
    return report


def repair_collection(catalog: Catalog, report: CheckReport) -> None:
    """Delete the documents ``report`` found damaged and the rows no head names."""
    if report.lost:
        heads = catalog.heads(report.lost)
        catalog.delete("documents", in_list("key", report.lost))
        catalog.flush(["documents"])
        drop_rows(catalog, ROW_KINDS, [int(h["version"]) for h in heads.values()])
    if report.orphans:
        drop_rows(catalog, ROW_KINDS, sorted(report.orphans))


def _checked(catalog: Catalog, row: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The head and what is wrong with its document; a document rewritten meanwhile is
    checked again at its new version."""
    problems = _document_problems(catalog, row)
    if problems:
        now = catalog.heads([row["doc_id"]]).get(row["doc_id"])
        if now is not None and now.get("version") != row.get("version"):
            return now, _document_problems(catalog, now)
    return row, problems


def _document_problems(catalog: Catalog, row: dict[str, Any]) -> list[str]:
    try:
        head, version = row["head"], int(row["version"])
        parts, chunks, sentences = (int(head[k]) for k in ("parts", "chunks", "sentences"))
        sha256 = str(head["sha256"])
    except (KeyError, TypeError, ValueError) as exc:
        return [f"its head does not parse ({type(exc).__name__}: {exc})"]
    try:
        text = catalog.text(version, parts)
    except ChangedWhileReadError:
        return [f"parts of its text are missing (version {version})"]
    problems = [] if content_hash(text) == sha256 else ["its text does not match its SHA-256"]
    passages = _rows(catalog, "passages", version, chunks, (*PASSAGE_FIELDS, "vector"))
    held = _rows(catalog, "sentences", version, sentences, SENTENCE_FIELDS)
    problems += _missing("passages", passages, chunks) + _missing("sentences", held, sentences)
    for r in passages.values():
        if text[r["char_start"] : r["char_end"]] != r["text"]:
            problems.append(f"passage {r['number']} is not the text at {r['char_start']}")
        if not set(int(s) for s in r["sentences"]) <= held.keys():
            problems.append(f"passage {r['number']} lists sentences of no version of its own")
    for n, r in held.items():
        if not 0 <= r["char_start"] < r["char_end"] <= len(text):
            problems.append(f"sentence {n - version} lies outside the text")
    problems += _bad_vectors("passages", passages.values())
    problems += _bad_vectors("sentences", held.values())
    return problems


def _rows(
    catalog: Catalog, kind: str, version: int, count: int, fields: tuple[str, ...]
) -> dict[int, dict[str, Any]]:
    rows = catalog.get(kind, range(version, version + count), fields)
    return {int(r["id"]): r for r in rows if int(r["version"]) == version}


def _missing(kind: str, rows: dict[int, Any], expected: int) -> list[str]:
    return [] if len(rows) == expected else [f"{expected - len(rows)} of its {kind} are missing"]


def _bad_vectors(kind: str, rows: Iterable[dict[str, Any]]) -> list[str]:
    vectors = [r["vector"] for r in rows]
    if not vectors:
        return []
    norms = np.linalg.norm(np.asarray(vectors, dtype=np.float64), axis=1)
    bad = int((~np.isfinite(norms) | (np.abs(norms - 1) > NORM_TOLERANCE)).sum())
    return [f"{bad} {kind} vectors are not finite unit vectors"] if bad else []


def _orphans(catalog: Catalog, versions: set[int]) -> set[int]:
    """Versions whose rows no head names, written more than :data:`STALE` seconds ago."""
    old = f"written < {int(time.time()) - STALE}"
    found: set[int] = set()
    for kind in ROW_KINDS:
        found |= {int(r["version"]) for r in catalog.scan(kind, ["version"], old)}
    return found - versions
