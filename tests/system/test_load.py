"""Under load on loopback: a real ``qa serve`` with keys answers 16 clients for fifteen
seconds without a failure, and a key over its own low limit gets 429s while another key is
served. (The latency figures of the same runs are in eval/BENCH.md, "Under load, and rate
limits".)"""

from __future__ import annotations

import asyncio
import time

import httpx

from qa.testing import running_server

QUESTIONS = [
    "what did Huang say about investors?",
    "O que é o paradoxo de Jevons?",
    "Quanto custou treinar o R1?",
    "Wer sieht NVIDIA optimistisch?",
]
ENV = {"QA_READ_KEYS": "key-a,key-b", "QA_KEY_RATE_LIMITS": "key-a=5/second"}


async def clients(url: str, key: str, count: int, seconds: float) -> dict[int, int]:
    """``count`` closed-loop clients asking with ``key`` for ``seconds``: answers by status."""
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(
        base_url=url, timeout=60, headers={"Authorization": f"Bearer {key}"}
    ) as client:

        async def one(k: int) -> None:
            while time.monotonic() < deadline:
                body = {"question": QUESTIONS[k % len(QUESTIONS)], "top_k": 5}
                try:
                    status = (await client.post("/query", json=body)).status_code
                except httpx.HTTPError:
                    status = 0  # no answer at all
                statuses[status] = statuses.get(status, 0) + 1
                k += count

        await asyncio.gather(*(one(k) for k in range(count)))
    return statuses


def test_sixteen_clients_for_fifteen_seconds_and_a_key_over_its_limit(settings, seed_index):
    with running_server(settings.index_dir, **ENV) as (url, _):
        soak = asyncio.run(clients(url, "key-b", 16, 15))
        assert set(soak) == {200} and soak[200] > 25, soak

        async def side_by_side() -> tuple[dict[int, int], dict[int, int]]:
            greedy = clients(url, "key-a", 8, 5)
            paced = clients(url, "key-b", 1, 5)
            return await asyncio.gather(greedy, paced)

        greedy, paced = asyncio.run(side_by_side())
        assert greedy.get(429, 0) > 0 and set(greedy) <= {200, 429}, greedy
        assert greedy.get(200, 0) <= 5 * 6 + 5, greedy  # 5 a second, in a moving window
        assert set(paced) == {200}, paced
        burst = [
            httpx.post(
                f"{url}/query",
                json={"question": QUESTIONS[0], "answer": False},
                headers={"Authorization": "Bearer key-a"},
                timeout=60,
            )
            for _ in range(7)
        ]
        refused = [r for r in burst if r.status_code == 429]
        assert refused and all(int(r.headers["retry-after"]) >= 1 for r in refused)
