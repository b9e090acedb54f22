"""Embedding and writing on a Ray cluster, when one machine's cores are not enough.

``qa add --workers N [--cluster ADDRESS]`` reads the sources on the machine it runs on and
hands batches of documents to ``N`` Ray actors. Each actor is a writer of the collection
the replicas serve (a Milvus server): it loads the model once, then embeds each batch and
writes it with the replica writer's all-or-nothing write per document, so any number of
them write side by side and a query sees each document whole or not at all. At most two
batches per worker are in flight, so the reader holds a bounded amount of text.

Without ``ADDRESS`` (or ``RAY_ADDRESS``) a local Ray instance with ``N`` CPUs is started
for the run and stopped after it; with one, the run joins that cluster (``ray://head:10001``
or ``auto``), whose nodes need this package installed and can reach the Milvus server.
Core actors rather than Ray Data's ``map_batches``: the same model-per-actor pattern, with
the back-pressure and per-batch results a write needs, and no dataset materialised.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable
from typing import Any

from qa.collection.milvus.collection import SERVER_SCHEMES, replica_mode
from qa.core.config import Settings
from qa.core.errors import QAError, VectorStoreError
from qa.index.planner import Status, WriteResult
from qa.ingest import Document
from qa.service.bulk import Progress, Survey, batches, quiet
from qa.service.service import QAService

IN_FLIGHT_PER_WORKER = 2


class BatchWriter:
    """One worker: a service over the Milvus collection, writing the batches it is given."""

    def __init__(self, settings: dict[str, Any]) -> None:  # Settings' fields
        self.service = QAService(Settings.model_validate(settings))
        _ = self.service.embedder  # loaded once, before the first batch

    def add(self, documents: list[Document]) -> list[tuple[str, Status, int]]:
        results = self.service.add(documents)
        return [(r.doc_id, r.status, r.chunks) for r in results]

    def where(self) -> str:
        return f"{os.uname().nodename}:{os.getpid()}"


def check_cluster_settings(settings: Settings) -> None:
    """Workers write side by side only into a collection held whole in a Milvus server."""
    if not replica_mode(settings) or not (settings.milvus_uri or "").startswith(SERVER_SCHEMES):
        raise VectorStoreError(
            "writing from several workers needs the collection held whole in a Milvus server: "
            "set QA_VECTOR_STORE=milvus and QA_MILVUS_URI=http://host:19530 (QA_MILVUS_MODE "
            "auto or replica); an index folder or a Milvus Lite file has one writer"
        )


def _join(address: str | None, cpus: int) -> bool:
    """Join the Ray cluster at ``address``, or start a local one of ``cpus`` CPUs (tried
    twice: a loaded machine can miss Ray's start-up deadline); False when this process is
    already in one (it is left running)."""
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_raylet_start_wait_time_s", "60")  # Ray's default: 10 s
    options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address:
        options["address"] = address
    else:
        options |= {"num_cpus": cpus, "include_dashboard": False}
    for attempt in (1, 2):
        try:
            ray.init(**options)
            return True
        except Exception as exc:  # Ray raises bare Exceptions, TimeoutError, ConnectionError
            ray.shutdown()
            if attempt == 2:
                where = f"join the Ray cluster at {address}" if address else "start Ray here"
                first = (str(exc).splitlines() or [type(exc).__name__])[0]
                raise QAError(f"could not {where}: {first}") from exc
    return True


def add_on_cluster(
    service: QAService,
    documents: Iterable[Document],
    found: Survey,
    workers: int,
    address: str | None = None,
    progress: Progress | None = None,
) -> tuple[list[WriteResult], Counter[str]]:
    """Add or update ``documents`` (``found``: their survey) in ``service``'s collection
    with ``workers`` Ray actors; returns the results in the order written and how many
    batches each worker (``host:pid``) wrote. A collection that does not exist yet is
    created with the first batch, written here (its language is that batch's), before the
    workers start."""
    import ray

    settings = service.settings
    check_cluster_settings(settings)
    tick = progress or quiet
    stream = batches(documents, settings.index_batch_chars)
    results: list[WriteResult] = []
    tick(0, len(found.ids))
    if service.collection is None:
        first = next(stream, [])
        results += service.add(first)
        tick(len(first), len(found.ids))
    cpus = settings.threads or 1  # each worker's model threads, and the CPUs it asks for
    started = _join(address or os.environ.get("RAY_ADDRESS"), workers * cpus)
    try:
        actor: Any = ray.remote(num_cpus=cpus)(BatchWriter)
        config = settings.model_dump() | {"threads": cpus}  # secrets as they are
        pool: list[Any] = [actor.remote(config) for _ in range(workers)]
        where = dict(zip(pool, ray.get([a.where.remote() for a in pool]), strict=True))
        wrote: Counter[str] = Counter({name: 0 for name in where.values()})
        pending: dict[Any, tuple[Any, int]] = {}
        free = pool * IN_FLIGHT_PER_WORKER

        def collect() -> None:
            """Take the results of the first batch done."""
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            worker, count = pending.pop(ref)
            results.extend(WriteResult(d, s, c) for d, s, c in _written(ref))
            wrote[where[worker]] += 1
            free.append(worker)
            tick(count, len(found.ids))

        for batch in stream:
            if not free:
                collect()
            worker = free.pop(0)
            pending[worker.add.remote(batch)] = (worker, len(batch))
        while pending:
            collect()
        return results, wrote
    finally:
        if started:
            ray.shutdown()


def _written(ref: Any) -> list[tuple[str, Status, int]]:
    """A batch's results; a product error in the worker raised as itself (it says what to
    fix), any other as Ray's."""
    import ray

    try:
        return list(ray.get(ref))
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        raise (cause if isinstance(cause, QAError) else exc) from None
