"""Concurrent questions are embedded together, each caller getting its own vectors."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from qa.embed.batching import QueryBatcher

QUESTIONS = [f"Pergunta número {i}: o que a NVIDIA disse sobre o trimestre {i}?" for i in range(16)]


class Gated:
    """The real model; its first call waits until ``waiting`` more requests are queued."""

    def __init__(self, real, waiting: int):
        self.real, self.name, self.dim, self.waiting = real, real.name, real.dim, waiting
        self.batch_sizes: list[int] = []
        self.batcher: QueryBatcher | None = None

    def encode_queries(self, texts):
        if not self.batch_sizes:
            deadline = time.monotonic() + 30
            while self.batcher._queue.qsize() < self.waiting and time.monotonic() < deadline:
                time.sleep(0.01)
        self.batch_sizes.append(len(texts))
        if any("boom" in t for t in texts):
            raise RuntimeError("model failed")
        return self.real.encode_queries(texts)

    def encode_passages(self, texts, progress=False):
        return self.real.encode_passages(texts, progress=progress)


def ask_all(batcher, questions):
    results: dict[int, object] = {}

    def ask(i):
        try:
            results[i] = batcher.encode_queries([questions[i]])
        except Exception as exc:  # recorded, checked by the test
            results[i] = exc

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(questions))]
    threads[0].start()
    time.sleep(0.2)  # the first one is in the model when the others arrive
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_concurrent_questions_share_one_model_call(float_embedder):
    embedder = float_embedder
    gated = Gated(embedder, waiting=len(QUESTIONS) - 1)
    batcher = gated.batcher = QueryBatcher(gated, max_batch=64)
    results = ask_all(batcher, QUESTIONS)
    assert gated.batch_sizes == [1, len(QUESTIONS) - 1]
    want = embedder.encode_queries(QUESTIONS)
    for i in range(len(QUESTIONS)):
        assert results[i].shape == (1, embedder.dim)
        assert float(results[i][0] @ want[i]) >= 0.9999  # its own question's vector
    # a lone question is embedded at once, alone
    assert batcher.encode_queries(["só uma"]).shape == (1, embedder.dim)
    assert gated.batch_sizes[-1] == 1
    assert (batcher.name, batcher.dim) == (embedder.name, embedder.dim)


def test_a_failed_batch_fails_each_of_its_callers_and_the_next_batch_works(embedder):
    gated = Gated(embedder, waiting=3)
    batcher = gated.batcher = QueryBatcher(gated, max_batch=64)
    results = ask_all(batcher, ["primeira", "boom 1", "segunda", "terceira"])
    assert gated.batch_sizes == [1, 3]
    assert isinstance(results[0], np.ndarray)
    assert all(isinstance(results[i], RuntimeError) for i in (1, 2, 3))
    with pytest.raises(RuntimeError, match="model failed"):
        batcher.encode_queries(["boom"])
    assert batcher.encode_queries(["de novo"]).shape == (1, embedder.dim)
