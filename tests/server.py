"""``qa serve`` in a child process, for the test suite and the benchmarks (which import it
from here: it needs the test extras' ``httpx``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple


class Served(NamedTuple):
    url: str  # base URL, e.g. http://127.0.0.1:8123
    pid: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(index_dir: Path, timeout: float = 120, **env: str) -> Iterator[Served]:
    """``qa serve`` over ``index_dir`` (``env``: more ``QA_*`` settings); yields its URL and
    process id once it is ready, stops it on exit. Rate limits are off unless ``env`` sets
    them: tests and benchmarks send bursts on purpose."""
    import httpx

    port = free_port()
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qa.cli", "serve", "--port", str(port)],
            env={
                **os.environ,
                "QA_INDEX_DIR": str(index_dir),
                "QA_RATE_LIMIT": "",
                "QA_WRITE_RATE_LIMIT": "",
                **env,
            },
            stdout=subprocess.DEVNULL,
            stderr=errors,  # a file, not a pipe: a chatty server never blocks on it
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    errors.seek(0)
                    raise RuntimeError(f"qa serve exited: {errors.read().decode()[-2000:]}")
                try:
                    if httpx.get(f"{url}/health/live", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"qa serve did not answer within {timeout:.0f} s")
                time.sleep(0.3)
            yield Served(url, proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@contextmanager
def running_milvus(data_dir: Path, timeout: float = 60) -> Iterator[str]:
    """A Milvus Lite server on loopback over ``data_dir`` (the stand-in for a Milvus
    cluster); yields its URI once it answers, stops it on exit."""
    from pymilvus import MilvusClient

    port = free_port()
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data_dir)),
                *("--host", "127.0.0.1", "--port", str(port)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        uri = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    errors.seek(0)
                    raise RuntimeError(f"milvus-lite exited: {errors.read().decode()[-2000:]}")
                try:
                    MilvusClient(uri=uri, timeout=2).list_collections()
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.3)
            yield uri
        finally:
            proc.terminate()
            proc.wait(timeout=30)
