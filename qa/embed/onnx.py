"""The embedding model run by ONNX Runtime, from a graph exported once (see
:mod:`qa.embed.export.onnx_export`): float32 (``onnx``) or int8 weights (``onnx-int8``).

Serving needs neither torch nor sentence-transformers: a ``tokenizers`` tokenizer and an
ONNX Runtime session. Texts are sorted by length and batched, like sentence-transformers
does, so a batch pads to similar lengths; inputs longer than the model's ``max_length``
tokens are truncated.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

# The graph file of each ONNX backend inside an export folder.
ONNX_FILES = {"onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}


def model_inputs(ids: Sequence[Sequence[int]], pad_id: int) -> dict[str, np.ndarray]:
    """The graph's inputs for a batch of token ids: ``input_ids`` padded with ``pad_id`` to
    the longest, and the ``attention_mask`` marking the real tokens."""
    width = max(len(row) for row in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for i, row in enumerate(ids):
        input_ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def _session(graph: Path, threads: int) -> Any:
    """An ONNX Runtime session of ``graph`` on ``threads`` threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # no spinning after a run: its threads would take the cores the search needs next
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])


# Texts tokenised at once: this many batches' worth (length-sorted within the window).
TOKENIZE_WINDOW_BATCHES = 32
# Padded tokens per batch, per text of ``batch_size``: 32 texts of up to 128 tokens, fewer
# of longer ones (8 of 512).
BATCH_TOKENS = 128


class OnnxEmbedder:
    """:class:`~qa.embed.base.Embedder` running an exported graph with ONNX Runtime."""

    def __init__(
        self,
        folder: Path,
        backend: str,
        name: str,
        query_prompt: str,
        passage_prompt: str,
        batch_size: int,
        threads: int | None,
    ) -> None:
        from tokenizers import Tokenizer

        info = json.loads((folder / "export.json").read_text(encoding="utf-8"))
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(info["max_length"]))
        self.pad_id = self.tokenizer.token_to_id("<pad>") or 0
        self.threads = threads or os.cpu_count() or 1
        self.graph = folder / ONNX_FILES[backend]
        self.session = _session(self.graph, self.threads)
        self._single: Any = None  # one thread a run: a question's texts side by side
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.name, self.backend = name, backend
        self.export = folder.name  # which export (model weights and export version) runs
        self.query_prompt, self.passage_prompt = query_prompt, passage_prompt
        self.batch_size = batch_size
        self.dim = int(self._run([[0, 2]]).shape[1])

    def _run(self, ids: Sequence[Sequence[int]], session: Any = None) -> np.ndarray:
        """The graph's vectors of a batch of token ids (on ``session``, default the main one)."""
        inputs = model_inputs(ids, self.pad_id)
        (vectors,) = (session or self.session).run(["embedding"], inputs)
        return vectors

    def _batches(self, lengths: Sequence[int]) -> list[np.ndarray]:
        """Rows grouped into batches, longest first: at most ``batch_size`` texts and at
        most ``batch_size * BATCH_TOKENS`` padded tokens each, so a batch of long passages
        holds fewer of them (attention memory grows with the square of the length; ONNX
        Runtime keeps its largest batch's memory for reuse)."""
        budget = self.batch_size * BATCH_TOKENS
        order = np.argsort([-n for n in lengths], kind="stable")
        batches: list[np.ndarray] = []
        start = 0
        while start < len(order):
            width = max(lengths[order[start]], 1)  # the longest of the batch comes first
            size = max(1, min(self.batch_size, budget // width))
            batches.append(order[start : start + size])
            start += size
        return batches

    def _encode(self, texts: Sequence[str], prompt: str, progress: bool) -> np.ndarray:
        """Vectors of ``texts``, tokenised a window at a time (so a corpus-sized call holds
        one window's tokens, not all of them) and run in batches of similar length."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        window = self.batch_size * TOKENIZE_WINDOW_BATCHES
        bar = None
        if progress and texts:
            from tqdm import tqdm

            bar = tqdm(total=len(texts), desc="Embedding", unit="text", leave=False)
        for first in range(0, len(texts), window):
            part = texts[first : first + window]
            encodings = self.tokenizer.encode_batch([prompt + t for t in part])
            for rows in self._batches([len(e.ids) for e in encodings]):
                out[first + rows] = self._run([encodings[i].ids for i in rows])
                if bar is not None:
                    bar.update(len(rows))
            del encodings
        if bar is not None:
            bar.close()
        return out

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of questions. A question's few texts (itself and its translation) run
        side by side, one thread each, rather than as one batch on every thread: a short
        text gains little from a second thread, and two texts at once take about the time
        of one (eval/BENCH.md, "The answer stage")."""
        if self.threads == 1 or not 1 <= len(texts) <= self.threads:
            return self._encode(texts, self.query_prompt, progress=False)
        session, pool = self._side_by_side()
        ids = [e.ids for e in self.tokenizer.encode_batch([self.query_prompt + t for t in texts])]

        def run(row: list[int]) -> np.ndarray:
            return self._run([row], session)[0]

        others = [pool.submit(run, row) for row in ids[1:]]  # the first runs here
        vectors = [run(ids[0]), *(f.result() for f in others)]
        return np.stack(vectors).astype(np.float32, copy=False)

    def _side_by_side(self) -> tuple[Any, ThreadPoolExecutor]:
        """A session running on one thread, and workers for all but the caller's text."""
        with self._lock:
            if self._single is None:
                self._single = _session(self.graph, 1)
                workers = max(1, self.threads - 1)
                self._pool = ThreadPoolExecutor(workers, thread_name_prefix="question")
            assert self._pool is not None
            return self._single, self._pool

    def encode_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self._encode(texts, self.passage_prompt, progress=progress)
