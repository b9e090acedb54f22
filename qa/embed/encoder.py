"""The embedding interface and its sentence-transformers implementation."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from qa.core.config import DEFAULT_MODEL, Settings
from qa.core.errors import ModelLoadError

log = logging.getLogger(__name__)

E5_QUERY_PROMPT = "query: "
E5_PASSAGE_PROMPT = "passage: "


class Embedder(Protocol):
    """Turns questions and passages into L2-normalised float32 vectors of size ``dim``."""

    name: str
    dim: int
    backend: str  # how the model runs: "torch", "onnx", "onnx-int8"

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """:class:`Embedder` over a ``SentenceTransformer``, applying query/passage prompts."""

    backend = "torch"

    def __init__(
        self,
        model: object,
        name: str,
        query_prompt: str = "",
        passage_prompt: str = "",
        batch_size: int = 32,
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


def embedder_backend(embedder: object) -> str:
    """The embedder's backend; an embedder that does not say is taken as PyTorch."""
    return str(getattr(embedder, "backend", "torch"))


def _prompts(prompts: dict[str, str], name: str, settings: Settings) -> tuple[str, str]:
    """Query/passage prompts: explicit settings, else the model's own, else e5's for e5 models."""
    query = prompts.get("query") or ""
    passage = prompts.get("document") or prompts.get("passage") or ""
    if not query and not passage and "e5" in name.lower():
        query, passage = E5_QUERY_PROMPT, E5_PASSAGE_PROMPT
    if settings.query_prompt is not None:
        query = settings.query_prompt
    if settings.passage_prompt is not None:
        passage = settings.passage_prompt
    return query, passage


def resolve_model_path(settings: Settings) -> str:
    """Local folder (or hub name) to load for ``settings.model``; converts the default once."""
    if settings.model == DEFAULT_MODEL:
        from qa.embed.convert import ensure_converted

        try:
            return str(ensure_converted(settings.model_cache))
        except (OSError, ValueError, ImportError) as exc:
            raise ModelLoadError(f"cannot prepare the default model: {exc}") from exc
    return settings.model


def _folder_prompts(folder: Path) -> dict[str, str]:
    config = folder / "config_sentence_transformers.json"
    if not config.is_file():
        return {}
    return dict(json.loads(config.read_text(encoding="utf-8")).get("prompts") or {})


def load_embedder(settings: Settings) -> Embedder:
    """Load the configured model once (with ``settings.backend``); the caller keeps it for
    the life of the process."""
    path = resolve_model_path(settings)
    if settings.backend != "torch":
        return _load_onnx(path, settings)
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(settings.threads or os.cpu_count() or 1)
    try:
        model = SentenceTransformer(path, device="cpu", local_files_only=Path(path).exists())
    except Exception as exc:  # any loader failure becomes one readable line
        raise ModelLoadError(
            f"cannot load embedding model {settings.model!r}: {exc}. Set QA_MODEL to a local "
            "sentence-transformers folder, or unset it to use the bundled default."
        ) from exc
    model.eval()
    query, passage = _prompts(dict(model.prompts or {}), settings.model, settings)
    return SentenceTransformerEmbedder(model, settings.model, query, passage, settings.batch_size)


def _load_onnx(path: str, settings: Settings) -> Embedder:
    from qa.embed.onnx import OnnxEmbedder, ensure_exported

    folder = Path(path)
    if not (folder / "modules.json").is_file():
        raise ModelLoadError(
            f"QA_BACKEND={settings.backend} needs a local sentence-transformers folder, and "
            f"{settings.model!r} is not one; set QA_MODEL to such a folder or QA_BACKEND=torch"
        )
    try:
        exported = ensure_exported(folder, settings.model_cache)
        query, passage = _prompts(_folder_prompts(folder), settings.model, settings)
        return OnnxEmbedder(
            exported,
            settings.backend,
            settings.model,
            query,
            passage,
            settings.batch_size,
            settings.threads,
        )
    except ModelLoadError:
        raise
    except Exception as exc:  # any export or session failure becomes one readable line
        raise ModelLoadError(
            f"cannot run {settings.model!r} with ONNX Runtime ({settings.backend}): {exc}. "
            "Set QA_BACKEND=torch to use PyTorch."
        ) from exc
