"""Language identification, offline (``py3langid``).

Classification is restricted to a few candidate languages: short questions are classified
far better among a few than among ninety.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache


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
        """The language most of the characters of ``texts`` are written in."""
        counts: dict[str, int] = {}
        for text in texts:
            lang = self.detect(text[:2000])
            counts[lang] = counts.get(lang, 0) + len(text)
        return max(counts, key=lambda k: counts[k]) if counts else self.languages[0]


@lru_cache(maxsize=8)
def detector(languages: tuple[str, ...]) -> LanguageDetector:
    return LanguageDetector(languages)
