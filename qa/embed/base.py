"""The embedding interface every backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Turns questions and passages into L2-normalised float32 vectors of size ``dim``."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def backend(self) -> str:
        """How the model runs: ``torch``, ``onnx`` or ``onnx-int8``."""
        ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray: ...


def embedder_backend(embedder: object) -> str:
    """The embedder's backend; an embedder that does not say is taken as PyTorch."""
    return str(getattr(embedder, "backend", "torch"))


def embedder_prompts(embedder: object) -> tuple[str | None, str | None]:
    """The question and passage prompts of ``embedder`` (``None`` when it does not say)."""
    return getattr(embedder, "query_prompt", None), getattr(embedder, "passage_prompt", None)
