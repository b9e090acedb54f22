"""Fusing ranked lists: a weighted sum of per-signal z-scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.core.config import Settings


@dataclass(frozen=True)
class FusionWeights:
    """Hybrid signal weights (``QA_WEIGHT_*``; meanings in :class:`~qa.core.config.Settings`)."""

    dense: float
    sentence: float
    cross: float
    lexical: float
    lexical_untranslated: float
    companion: float

    @classmethod
    def from_settings(cls, settings: Settings) -> FusionWeights:
        return cls(
            settings.weight_dense,
            settings.weight_sentence,
            settings.weight_cross,
            settings.weight_lexical,
            settings.weight_lexical_untranslated,
            settings.weight_companion,
        )


def znorm_fuse(signals: Sequence[tuple[float, list[tuple[int, float]]]]) -> list[tuple[int, float]]:
    """Weighted sum of per-signal z-scores; a passage absent from a signal's list gets 0 there."""
    fused: dict[int, float] = {}
    for weight, ranked in signals:
        if weight == 0 or not ranked:
            continue
        scores = np.array([s for _, s in ranked], dtype=np.float64)
        mean, std = scores.mean(), scores.std()
        for (row, _), z in zip(ranked, (scores - mean) / (std if std > 0 else 1.0), strict=True):
            fused[row] = fused.get(row, 0.0) + weight * float(z)
    return sorted(fused.items(), key=lambda item: -item[1])
