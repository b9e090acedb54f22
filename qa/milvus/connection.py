"""The connection to Milvus: Milvus Lite (a local ``.db`` file, embedded in the process) or
a Milvus server or cluster (``http://host:19530``), chosen by URI; ``pymilvus`` speaks to
both. Every failure becomes one readable :class:`~qa.core.errors.VectorStoreError`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.core.errors import IndexMismatchError, IngestError, VectorStoreError

if TYPE_CHECKING:
    from pymilvus import MilvusClient

    from qa.core.config import Settings


# gRPC keep-alive: pymilvus pings every 10 s, even between calls; a server with gRPC's
# defaults (Milvus Lite's) takes pings more often than every 5 minutes without a call in
# flight as abuse and closes the connection ("too_many_pings" after ~30 s idle), and a
# reconnection can then fail. Ping at the pace servers accept, and only during calls.
# (pymilvus shares one connection per address and token: its first client sets these.)
GRPC_OPTIONS = {"grpc.keepalive_time_ms": 300_000, "grpc.keepalive_permit_without_calls": 0}


def default_milvus_uri(index_dir: Path) -> str:
    """Milvus Lite inside the index folder: copied, moved and deleted with it."""
    return str(Path(index_dir).resolve() / "milvus.db")


@dataclass(frozen=True)
class MilvusOptions:
    """Connection and index settings (``QA_MILVUS_*``; see :class:`qa.core.config.Settings`)."""

    uri: str
    token: str | None
    prefix: str
    index_type: str
    m: int
    ef_construction: int
    ef_search: int
    consistency: str

    @classmethod
    def from_settings(cls, settings: Settings, ef_construction: int) -> MilvusOptions:
        return cls(
            settings.milvus_uri or default_milvus_uri(settings.index_dir),
            settings.milvus_token.get_secret_value() if settings.milvus_token else None,
            settings.milvus_collection,
            settings.milvus_index,
            settings.ann_hnsw_m,
            ef_construction,
            settings.ann_ef_search,
            settings.milvus_consistency,
        )

    def vector_build_params(self) -> dict[str, Any]:
        """The vector index's build parameters (HNSW: links and candidates per vector)."""
        if self.index_type == "HNSW":
            return {"M": self.m, "efConstruction": self.ef_construction}
        return {}

    def vector_search_params(self, k: int) -> dict[str, Any]:
        """A vector search's parameters: inner product; HNSW walks at least ``k``."""
        params: dict[str, Any] = {"metric_type": "IP"}
        if self.index_type == "HNSW":
            params["params"] = {"ef": max(self.ef_search, k)}
        return params


@contextmanager
def reporting(action: str, uri: str) -> Iterator[None]:
    """Milvus failures as one readable :class:`VectorStoreError`."""
    try:
        yield
    except (IngestError, IndexMismatchError):
        raise
    except Exception as exc:  # pymilvus raises MilvusException, grpc errors, OSError...
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        raise VectorStoreError(
            f"Milvus at {uri} failed to {action}: {message.splitlines()[0]} "
            "(check QA_MILVUS_URI / QA_MILVUS_TOKEN and that the server is up)"
        ) from exc


def released(exc: BaseException) -> bool:
    """Whether a failure says the collection is not loaded (Milvus releases every
    collection when it restarts)."""
    text = f"{exc} {exc.__cause__ or ''}".lower()
    return "not loaded" in text or "load()" in text


@contextmanager
def reloading(action: str, uri: str, load: Callable[[], None]) -> Iterator[None]:
    """As :func:`reporting`; and when Milvus has released the collections (it does on a
    restart), ``load`` them again before the error goes out, so the next request is
    served (the error then says to ask again)."""
    try:
        with reporting(action, uri):
            yield
    except VectorStoreError as exc:
        if not released(exc):
            raise
        try:
            with reporting("load collections", uri):
                load()
        except VectorStoreError:
            raise exc from None
        raise VectorStoreError(
            "Milvus had released the collections (after a restart?); they are loaded "
            "again: ask again"
        ) from exc


class MilvusConnection:
    """One client for the options' URI, made on first use."""

    def __init__(self, options: MilvusOptions) -> None:
        self.options = options
        self._client: MilvusClient | None = None

    @property
    def client(self) -> MilvusClient:
        if self._client is None:
            try:
                from pymilvus import MilvusClient
            except ImportError as exc:
                raise VectorStoreError(
                    "QA_VECTOR_STORE=milvus needs the Milvus client: pip install 'qa[milvus]'"
                ) from exc
            with reporting("connect", self.options.uri):
                self._client = MilvusClient(
                    uri=self.options.uri,
                    token=self.options.token or "",
                    timeout=30,
                    grpc_options=GRPC_OPTIONS,
                )
        return self._client

    def reporting(self, action: str) -> AbstractContextManager[None]:
        return reporting(action, self.options.uri)

    def reloading(self, action: str, load: Callable[[], None]) -> AbstractContextManager[None]:
        return reloading(action, self.options.uri, load)

    def unavailable(self, names: Iterable[str]) -> str | None:
        """Why collections ``names`` cannot be searched now (``None``: they can). Those
        Milvus released (a restart does that) are loaded again on the way."""
        try:
            with self.reporting("check collections"):
                missing = [
                    name
                    for name in names
                    if "Loaded" not in str(self.client.get_load_state(name).get("state", ""))
                ]
                for name in missing:
                    self.client.load_collection(name)
        except VectorStoreError as exc:
            return str(exc)
        if not missing:
            return None
        return f"Milvus had released {', '.join(missing)} (after a restart?); loading them again"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
