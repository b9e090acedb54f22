"""Language identification, offline (``py3langid``).

Classification is restricted to the configured languages: short questions are classified
better among the languages people write in than among ninety (Galician and Catalan steal
Portuguese and Spanish questions). Each detector keeps an identifier of its own, restricted
once (a few milliseconds), copied from the model file's identifier, which is read once per
process (a third of a second) and never changed.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

# English names of the languages questions are classified among (for messages).
LANGUAGE_NAMES = {
    "en": "English", "pt": "Portuguese", "es": "Spanish", "fr": "French", "de": "German",
    "it": "Italian", "nl": "Dutch", "ro": "Romanian", "pl": "Polish", "cs": "Czech",
    "sk": "Slovak", "sl": "Slovenian", "hr": "Croatian", "sr": "Serbian", "bg": "Bulgarian",
    "uk": "Ukrainian", "ru": "Russian", "el": "Greek", "tr": "Turkish", "hu": "Hungarian",
    "fi": "Finnish", "sv": "Swedish", "da": "Danish", "no": "Norwegian", "lt": "Lithuanian",
    "lv": "Latvian", "et": "Estonian", "id": "Indonesian", "ms": "Malay", "vi": "Vietnamese",
    "ar": "Arabic", "he": "Hebrew", "fa": "Persian", "ur": "Urdu", "hi": "Hindi",
    "bn": "Bengali", "ta": "Tamil", "th": "Thai", "zh": "Chinese", "ja": "Japanese",
    "ko": "Korean",
}  # fmt: skip


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


class LanguageDetector:
    def __init__(self, languages: Sequence[str]) -> None:
        self.languages = list(languages)
        self._identifier: Any = None
        self._lock = threading.Lock()

    def _model(self) -> Any:
        if self._identifier is None:
            with self._lock:
                if self._identifier is None:
                    identifier = copy.copy(_model_file())  # restricting replaces arrays
                    identifier.set_languages(self.languages)
                    self._identifier = identifier
        return self._identifier

    def detect(self, text: str) -> str:
        lang, _ = self._model().classify(text)
        return str(lang)

    def majority(self, texts: Sequence[str]) -> str:
        """The language most of the characters of ``texts`` are written in."""
        counts: dict[str, int] = {}
        for text in texts:
            lang = self.detect(text[:2000])
            counts[lang] = counts.get(lang, 0) + len(text)
        return max(counts, key=lambda k: counts[k]) if counts else self.languages[0]


@lru_cache(maxsize=1)
def _model_file() -> Any:
    """py3langid's identifier of every language, as read from its model file (read-only
    data: each detector restricts a copy)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE)
