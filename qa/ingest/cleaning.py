"""Which parts of an article are worth indexing, and its title.

A document keeps its original text untouched; cleaning only decides which *segments*
(character spans of that text) are indexed, so every citation offset points into the text
exactly as read:

* the title is the first non-empty line (a leading markdown ``#`` is dropped);
* a paragraph that repeats an earlier one (news pages print the title twice) is skipped;
* comment-form and source-credit boilerplate is skipped ("Deixe um comentário",
  "O seu endereço de email não será publicado…", "Fonte e Imagens", a sentence that
  only points to "[fonte e imagens](…)", bare links), and everything after the start
  of a comment form is dropped.
"""

from __future__ import annotations

import re

_PARAGRAPH = re.compile(r"\S(?:.*?\S)?(?=\s*\n\s*\n|\s*\Z)", re.DOTALL)

# A paragraph matching one of these (whole, case-insensitive) is not article text.
_BOILERPLATE = [
    r"o seu endere[cç]o de e-?mail n[aã]o ser[aá] publicado\..*",
    r"campos obrigat[oó]rios (?:s[aã]o )?marcados com \*",
    r"your email address will not be published\..*",
    r"required fields are marked \*",
    r"(?:fontes?|sources?|fuentes?)(?: (?:e|and|y) (?:imagens|images|im[aá]genes))?:?",
    r"(?:cr[eé]ditos?|credits?)(?: (?:das|of) (?:imagens|images))?:?",
    # only links: "[label](url)" or a bare URL, with nothing else of substance
    r"(?:\[[^\]]*\]\([^)]*\)|<?https?://\S+>?)[\s.]*",
]
# A paragraph that points the reader to the source: "…confira esta [fonte e imagens](url)."
_SOURCE_LINK = re.compile(
    r"\[[^\]]*(?:fonte|source|fuente|imagens|images|leia mais|read more|saiba mais)[^\]]*\]"
    r"\([^)]*\)",
    re.IGNORECASE,
)
# The start of a comment form: it and everything after it is dropped.
_COMMENT_FORM = re.compile(
    r"(?:deixe (?:um|o seu|seu) coment[aá]rio|leave a (?:comment|reply)|deja un comentario)\.?",
    re.IGNORECASE,
)
_BOILERPLATE_RE = re.compile("|".join(f"(?:{p})" for p in _BOILERPLATE), re.IGNORECASE)


def paragraphs(text: str) -> list[tuple[int, int]]:
    """Spans of the non-blank paragraphs of ``text`` (separated by blank lines), stripped."""
    return [(m.start(), m.end()) for m in _PARAGRAPH.finditer(text)]


def _normalise(s: str) -> str:
    return " ".join(s.split()).casefold()


def is_boilerplate(paragraph: str) -> bool:
    """True for a paragraph that is page furniture rather than article text."""
    flat = " ".join(paragraph.split())
    return bool(_BOILERPLATE_RE.fullmatch(flat) or _SOURCE_LINK.search(flat))


def article_segments(text: str) -> tuple[tuple[int, int], ...]:
    """The paragraphs of an article worth indexing (see the module docstring)."""
    kept: list[tuple[int, int]] = []
    seen: set[str] = set()
    for start, end in paragraphs(text):
        para = text[start:end]
        flat = " ".join(para.split())
        if _COMMENT_FORM.fullmatch(flat):
            break
        key = _normalise(para)
        if key in seen or is_boilerplate(para):
            continue
        seen.add(key)
        kept.append((start, end))
    return tuple(kept)


def title_of(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip().lstrip("#").strip()
    return ""
