"""The embedding model run by sentence-transformers on PyTorch (``QA_BACKEND=torch``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qa.core.errors import ModelLoadError


class SentenceTransformerEmbedder:
    """:class:`~qa.embed.base.Embedder` over a ``SentenceTransformer``, applying the
    question and passage prompts."""

    backend = "torch"

    def __init__(
        self, model: object, name: str, query_prompt: str, passage_prompt: str, batch_size: int
    ) -> None:
        from sentence_transformers import SentenceTransformer

        assert isinstance(model, SentenceTransformer)
        self.model = model
        self.name = name
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.batch_size = batch_size
        get_dim = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        dim = get_dim()
        if dim is None:
            raise ModelLoadError(f"model {name!r} does not report an embedding dimension")
        self.dim = int(dim)

    def _encode(self, texts: Sequence[str], prompt: str, progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            prompt=prompt or None,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.query_prompt, progress=False)

    def encode_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self._encode(texts, self.passage_prompt, progress=progress)
