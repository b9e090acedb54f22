"""Sentence embeddings: one small interface, any sentence-transformers model behind it."""

from qa.embed.encoder import (
    Embedder,
    SentenceTransformerEmbedder,
    embedder_backend,
    load_embedder,
)

__all__ = ["Embedder", "SentenceTransformerEmbedder", "embedder_backend", "load_embedder"]
