"""Step 3: embed questions and passages. The runtime backends (PyTorch, ONNX Runtime) live
here; ``qa.embed.export`` holds the one-time tooling (model conversion, ONNX export,
smoothing and int8 quantisation)."""

from qa.embed.base import Embedder, embedder_backend, embedder_prompts
from qa.embed.loader import load_embedder, resolve_model_path

__all__ = [
    "Embedder",
    "embedder_backend",
    "embedder_prompts",
    "load_embedder",
    "resolve_model_path",
]
