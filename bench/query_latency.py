"""Median latency of ``POST /query`` against a running service.

    python -m bench.query_latency --url http://127.0.0.1:8000 -n 100

Sends ``-n`` sequential requests (after a few warm-up ones) cycling through a small
set of questions in several languages, and prints median, p95 and mean in ms, both as
seen by the client and as reported by the server (``took_ms``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx

from qa.eval.metrics import percentile

QUESTIONS = [
    "what did Huang say about investors?",
    "Quanto custou treinar o modelo R1?",
    "¿Qué es la paradoja de Jevons?",
    "Quand aura lieu la conférence de résultats de NVIDIA ?",
    "Wie viele GPUs wurden für das Training verwendet?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("-n", type=int, default=100, help="requests to time")
    parser.add_argument("-k", type=int, default=5, help="top_k of each request")
    args = parser.parse_args()

    client_ms: list[float] = []
    server_ms: list[float] = []
    with httpx.Client(base_url=args.url, timeout=30) as client:
        for q in QUESTIONS:  # warm-up
            client.post("/query", json={"question": q, "top_k": args.k}).raise_for_status()
        for i in range(args.n):
            question = QUESTIONS[i % len(QUESTIONS)]
            started = time.perf_counter()
            response = client.post("/query", json={"question": question, "top_k": args.k})
            client_ms.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            server_ms.append(response.json()["took_ms"])
    for name, values in (("client", client_ms), ("server took_ms", server_ms)):
        print(
            f"{name:>15}: median {statistics.median(values):6.1f} ms   "
            f"p95 {percentile(values, 95):6.1f} ms   mean {statistics.fmean(values):6.1f} ms"
            f"   (n={len(values)})"
        )


if __name__ == "__main__":
    main()
