"""What every benchmark section shares: paths, figures, tables, child processes."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qa.eval.metrics import percentile

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "benchmarks"
FAKEBR = SHARED / "fakebr_news" / "corpus.jsonl.gz"
PIRA = SHARED / "pira_xling"
# Real vectors needed before the ann section calibrates its synthetic data against them.
CALIBRATION_MIN = 50_000
BACKENDS = ("torch", "onnx", "onnx-int8")
EMBED_ROUNDS = 3  # timed passes over the passages per embedding engine (median kept)


def median_ms(seconds: Sequence[float]) -> float:
    return round(1000 * statistics.median(seconds), 2)


def pct_ms(seconds: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100), as every figure of the project."""
    return round(1000 * percentile(seconds, q), 2)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cpu_flags() -> str:
    """The CPU's vector extensions that change int8 kernels (AVX2, AVX-512, VNNI)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    flags = set(text.split())
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni")
    return ", ".join(f for f in wanted if f in flags) or "none of avx2, avx512f, vnni"


def machine() -> str:
    import onnxruntime
    import torch

    return (
        f"{os.cpu_count()} CPU cores, no GPU; Python {platform.python_version()}, "
        f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
        f"{platform.system()} {platform.machine()}"
    )


def run_measured(cmd: Sequence[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of a child process (its own peak, read
    from ``wait4``: not the largest of every child this process has had)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {err.read().decode()[-2000:]}")
        return seconds, usage.ru_maxrss / 1024, out.read().decode()


def rss_mb(pid: int) -> tuple[float, float]:
    """Current and peak resident memory of a process, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def rss_parts_mb(pid: int) -> dict[str, float]:
    """Resident memory of a process by kind, in MB: anonymous (its own heap) and file
    pages (memory-mapped files: the page cache's, given back whenever memory is short)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return {
        "anon_mb": round(int(fields["RssAnon"].split()[0]) / 1024),
        "file_mb": round(int(fields["RssFile"].split()[0]) / 1024),
    }


async def load(
    url: str, questions: list[str], clients: int, seconds: float, key: str | None = None
) -> dict[str, Any]:
    import httpx

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=clients)) as c:

        async def client(k: int) -> None:
            nonlocal errors
            i = k
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                r = await c.post(
                    url,
                    json={"question": questions[i % len(questions)], "top_k": 5},
                    headers=headers,
                )
                latencies.append(time.perf_counter() - t0)
                errors += r.status_code != 200
                i += clients

        started = time.perf_counter()
        await asyncio.gather(*(client(k) for k in range(clients)))
        elapsed = time.perf_counter() - started
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": errors,
        "median_ms": median_ms(latencies),
        "p95_ms": pct_ms(latencies, 95),
        "p99_ms": pct_ms(latencies, 99),
        "per_s": round(len(latencies) / elapsed, 1),
    }


def qa_command(*args: str, backend: str) -> None:
    """``qa ARGS`` in a child process, on the bench's embedding backend."""
    subprocess.run(
        [sys.executable, "-m", "qa.cli", *args],
        env=dict(os.environ, QA_BACKEND=backend),
        check=True,
        capture_output=True,
    )


def seed_index(work: Path, backend: str) -> Path:
    """The seed articles' index the HTTP runs query, built once per bench run."""
    index_dir = work / "seed-index"
    if not (index_dir / "manifest.json").exists():
        qa_command(
            "index", "--source", str(ROOT / "seeds"), "--index-dir", str(index_dir), backend=backend
        )
    return index_dir


def seed_questions() -> list[str]:
    """The seed question set's questions, in file order."""
    return [
        json.loads(line)["question"]
        for line in (ROOT / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
