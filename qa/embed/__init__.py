"""Sentence embeddings: one small interface, any sentence-transformers model behind it."""

from qa.embed.encoder import Embedder, SentenceTransformerEmbedder, load_embedder

__all__ = ["Embedder", "SentenceTransformerEmbedder", "load_embedder"]
