"""Cost of adding one article to a small and to a large collection.

    python -m bench.add_cost [--corpus ../shared/benchmarks/fakebr_news/corpus.jsonl.gz]

Builds two collections in a temporary folder: the two seed articles alone, and the seed
articles plus every passage of the corpus (21,702 for fakebr_news). The corpus is chunked,
split into sentences and indexed for BM25 for real; its vectors are random unit vectors
(embedding 21,702 passages and their sentences takes the better part of an hour on two
cores, and an add never reads the other documents' vectors). Then it times, on each
collection, ``--repeats`` additions of one new article (a seed article with a changed
line, so it is embedded each time) with the real model, and prints the medians: the
embedding of the article, and everything else the write costs (segment files, manifest,
FAISS, BM25, fsyncs).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from qa.collection import FolderCollection
from qa.core.config import Settings
from qa.embed import load_embedder
from qa.ingest import load_documents, make_text_document
from qa.store import Chunking
from qa.vectors import make_backend

ROOT = Path(__file__).resolve().parent.parent


class RandomVectors:
    """Stands in for the model while the large collection is loaded (see the docstring)."""

    def __init__(self, name: str, dim: int, backend: str) -> None:
        self.name, self.dim, self.backend = name, dim, backend
        self.rng = np.random.default_rng(0)

    def encode_passages(self, texts, progress=False):
        v = self.rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


class Timed:
    def __init__(self, real) -> None:
        self.real, self.name, self.dim, self.backend = real, real.name, real.dim, real.backend
        self.seconds = 0.0

    def encode_passages(self, texts, progress=False):
        started = time.perf_counter()
        out = self.real.encode_passages(texts)
        self.seconds += time.perf_counter() - started
        return out


def measure(collection: FolderCollection, article: str, repeats: int) -> tuple[float, float, int]:
    totals, embeds = [], []
    for i in range(repeats):
        text = article.replace("\n\n", f"\n\nAtualização {i}.\n\n", 1)
        timed = collection.embedder
        timed.seconds = 0.0
        started = time.perf_counter()
        [result] = collection.upsert([make_text_document(f"new-{i}", text, "bench")])
        totals.append(time.perf_counter() - started)
        embeds.append(timed.seconds)
        collection.delete([f"new-{i}"])
    return statistics.median(totals), statistics.median(embeds), result.chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--corpus", type=Path, default=ROOT.parent / "shared/benchmarks/fakebr_news/corpus.jsonl.gz"
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    settings = Settings()
    real = load_embedder(settings)
    seeds = load_documents([ROOT / "seeds"])
    article = seeds[0].text
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, sources in (("seeds only", []), (args.corpus.name, [args.corpus])):
            docs = seeds + (load_documents(sources) if sources else [])
            started = time.perf_counter()
            folder = Path(tmp) / name
            chunking = Chunking(size=settings.chunk_size, overlap=settings.chunk_overlap)
            stand_in = RandomVectors(real.name, real.dim, real.backend)
            FolderCollection.create(folder, make_backend(settings), stand_in, docs, chunking)
            collection = FolderCollection.open(folder, make_backend(settings), Timed(real))
            load = time.perf_counter() - started
            total, embed, chunks = measure(collection, article, args.repeats)
            n = len(collection.index.chunks)
            rows.append((name, n, load, total, embed, chunks))
    print(
        "| collection | passages | build+load s | add one article: median s "
        "| of which embedding s | rest s |"
    )
    print("|---|---|---|---|---|---|")
    for name, n, load, total, embed, chunks in rows:
        print(
            f"| {name} | {n} | {load:.1f} | {total:.2f} ({chunks} passages) | {embed:.2f} "
            f"| {total - embed:.3f} |"
        )
    print(
        f"\nratio large/small, whole add: {rows[1][3] / rows[0][3]:.2f}; "
        f"rest: {(rows[1][3] - rows[1][4]) / (rows[0][3] - rows[0][4]):.2f}"
    )


if __name__ == "__main__":
    main()
