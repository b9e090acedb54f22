"""The one place that names the vector backends: the settings choose one."""

from __future__ import annotations

from qa.core.config import Settings, VectorStoreKind
from qa.vectors.base import HNSW_EF_CONSTRUCTION, VectorBackend


def make_backend(settings: Settings, kind: VectorStoreKind | str | None = None) -> VectorBackend:
    """The backend ``kind`` (default: ``settings.vector_store``), configured and connected
    as the settings say."""
    kind = kind or settings.vector_store
    if kind == "faiss":
        from qa.vectors.faiss.backend import FaissBackend
        from qa.vectors.faiss.spec import AnnPolicy

        return FaissBackend(AnnPolicy.from_settings(settings))
    if kind == "milvus":
        from qa.milvus.connection import MilvusOptions
        from qa.vectors.milvus.backend import MilvusBackend

        return MilvusBackend(MilvusOptions.from_settings(settings, HNSW_EF_CONSTRUCTION))
    raise ValueError(f"unknown vector store {kind!r} (faiss or milvus)")
