"""Load the configured embedding model with the configured backend."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from qa.core.config import DEFAULT_MODEL, Settings
from qa.core.errors import ModelLoadError
from qa.embed.base import Embedder

log = logging.getLogger(__name__)

E5_QUERY_PROMPT = "query: "
E5_PASSAGE_PROMPT = "passage: "


def _prompts(prompts: Mapping[str, str | None], name: str, settings: Settings) -> tuple[str, str]:
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
        from qa.embed.export.convert import ensure_converted

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
    return _load_torch(path, settings)


def _load_torch(path: str, settings: Settings) -> Embedder:
    import torch
    from sentence_transformers import SentenceTransformer

    from qa.embed.pytorch import SentenceTransformerEmbedder

    torch.set_num_threads(settings.threads or os.cpu_count() or 1)
    try:
        model = SentenceTransformer(path, device="cpu", local_files_only=Path(path).exists())
    except Exception as exc:  # any loader failure becomes one readable line
        raise ModelLoadError(
            f"cannot load embedding model {settings.model!r}: {exc}. Set QA_MODEL to a local "
            "sentence-transformers folder, or unset it to use the bundled default."
        ) from exc
    model.eval()
    query, passage = _prompts(model.prompts or {}, settings.model, settings)
    return SentenceTransformerEmbedder(model, settings.model, query, passage, settings.batch_size)


def _load_onnx(path: str, settings: Settings) -> Embedder:
    from qa.embed.export.onnx_export import ensure_exported
    from qa.embed.onnx import OnnxEmbedder

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
