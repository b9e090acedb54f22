"""Micro-batching of concurrent questions: one model call for every question waiting.

Requests answered in parallel each need their question embedded. Run one by one, every
call pays the model's fixed per-call cost and the calls compete for the same cores; a
single worker thread that takes *all* the questions queued while it was busy and embeds
them in one batch turns concurrency into throughput. Nothing waits for a batch to fill:
a lone question is embedded at once, so one client sees no added latency.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np

from qa.embed.base import Embedder, embedder_backend


class QueryBatcher:
    """An :class:`~qa.embed.base.Embedder` whose ``encode_queries`` batches concurrent calls;
    ``encode_passages`` and every attribute are those of the wrapped embedder."""

    def __init__(self, embedder: Embedder, max_batch: int, workers: int = 1) -> None:
        self.embedder = embedder
        self.max_batch = max_batch
        self.calls = 0  # model calls made (for tests and figures)
        self._queue: queue.SimpleQueue[tuple[list[str], Future[np.ndarray]]] = queue.SimpleQueue()
        self._workers = [
            threading.Thread(target=self._run, name=f"query-batcher-{i}", daemon=True)
            for i in range(workers)
        ]
        for worker in self._workers:
            worker.start()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.embedder, name)

    @property
    def name(self) -> str:
        return self.embedder.name

    @property
    def dim(self) -> int:
        return self.embedder.dim

    @property
    def backend(self) -> str:
        return embedder_backend(self.embedder)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        future: Future[np.ndarray] = Future()
        self._queue.put((list(texts), future))
        return future.result()

    def encode_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self.embedder.encode_passages(texts, progress=progress)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            size = len(batch[0][0])
            while size < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                batch.append(item)
                size += len(item[0])
            texts = [t for item_texts, _ in batch for t in item_texts]
            try:
                self.calls += 1
                vectors = self.embedder.encode_queries(texts)
            except BaseException as exc:  # handed to every caller of this batch
                for _, future in batch:
                    future.set_exception(exc)
                continue
            start = 0
            for item_texts, future in batch:
                future.set_result(vectors[start : start + len(item_texts)])
                start += len(item_texts)
