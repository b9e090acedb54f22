"""Step 5: where the vectors live. :mod:`qa.vectors.base` is the interface the rest of the
package uses; :func:`make_backend` chooses a backend (:mod:`qa.vectors.faiss`, in the
process, or :mod:`qa.vectors.milvus`, a vector database) from the settings."""

from qa.vectors.base import (
    VECTOR_KINDS,
    Prepared,
    Rows,
    VectorBackend,
    VectorChange,
    VectorKind,
    VectorStore,
    VectorTransaction,
)
from qa.vectors.factory import make_backend

__all__ = [
    "VECTOR_KINDS",
    "Prepared",
    "Rows",
    "VectorBackend",
    "VectorChange",
    "VectorKind",
    "VectorStore",
    "VectorTransaction",
    "make_backend",
]
