"""``qa serve`` and a Milvus Lite server in child processes, and EPUB and PDF files to
read, for the test suite and the benchmarks (``httpx``, ``pymilvus`` and ``playwright``
come with the ``test`` and ``milvus`` extras)."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple


class Served(NamedTuple):
    url: str  # base URL, e.g. http://127.0.0.1:8123
    pid: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _running(
    command: list[str], name: str, ready: Callable[[], bool], timeout: float, **popen: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` in a child process, yielded once ``ready()`` holds (an exception counts
    as not yet); stopped on exit. Its stderr goes to a file, not a pipe: a chatty child
    never blocks on it, and it is quoted when the child dies before it is ready."""
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, **popen)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    errors.seek(0)
                    raise RuntimeError(f"{name} exited: {errors.read().decode()[-2000:]}")
                try:
                    if ready():
                        break
                except Exception:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not answer within {timeout:.0f} s")
                time.sleep(0.3)
            yield proc
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@contextmanager
def running_server(index_dir: Path, timeout: float = 120, **env: str) -> Iterator[Served]:
    """``qa serve`` over ``index_dir`` (``env``: more ``QA_*`` settings); yields its URL and
    process id once it is ready, stops it on exit. Rate limits are off unless ``env`` sets
    them: tests and benchmarks send bursts on purpose."""
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = {
        "QA_INDEX_DIR": str(index_dir),
        **dict.fromkeys(("QA_RATE_LIMIT", "QA_WRITE_RATE_LIMIT", "QA_FREE_RATE_LIMIT"), ""),
    }
    with _running(
        [sys.executable, "-m", "qa.cli", "serve", "--port", str(port)],
        "qa serve",
        lambda: httpx.get(f"{url}/health/live", timeout=2).status_code == 200,
        timeout,
        env={**os.environ, **settings, **env},
    ) as proc:
        yield Served(url, proc.pid)


@contextmanager
def running_milvus(data_dir: Path, timeout: float = 60, port: int | None = None) -> Iterator[str]:
    """A Milvus Lite server on loopback over ``data_dir`` (the stand-in for a Milvus
    cluster), on ``port`` (default: a free one); yields its URI once it answers, stops it
    on exit."""
    from pymilvus import MilvusClient

    from qa.milvus.connection import GRPC_OPTIONS

    port = port or free_port()
    uri = f"http://127.0.0.1:{port}"
    with _running(
        [
            *(sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data_dir)),
            *("--host", "127.0.0.1", "--port", str(port)),
        ],
        "milvus-lite",
        # pymilvus shares one connection per address: this first client sets its options
        lambda: (
            MilvusClient(uri=uri, timeout=2, grpc_options=GRPC_OPTIONS).list_collections()
            is not None
        ),
        timeout,
    ):
        yield uri


def epub_bytes(chapters: Sequence[str], title: str = "", spine: Sequence[int] = ()) -> bytes:
    """An EPUB 3 laid out as its specification says: a container pointing at a package
    document whose spine orders the chapters (each the body of an XHTML page; ``spine``:
    their reading order, default as given)."""
    order = list(spine) or list(range(len(chapters)))
    items = "".join(
        f'<item id="c{i}" href="c{i}.xhtml" media-type="application/xhtml+xml"/>'
        for i in range(len(chapters))
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as book:
        book.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        book.writestr(
            "META-INF/container.xml",
            '<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container" version="1.0">'
            '<rootfiles><rootfile full-path="OEBPS/content.opf" '
            'media-type="application/oebps-package+xml"/></rootfiles></container>',
        )
        book.writestr(
            "OEBPS/content.opf",
            '<package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
            f'<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{title}</dc:title>'
            f"</metadata><manifest>{items}</manifest><spine>"
            + "".join(f'<itemref idref="c{i}"/>' for i in order)
            + "</spine></package>",
        )
        for i, body in enumerate(chapters):
            book.writestr(
                f"OEBPS/c{i}.xhtml",
                '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Capítulo</title>'
                f"</head><body>{body}</body></html>",
            )
    return buffer.getvalue()


CHROMIUM = "/usr/bin/chromium"  # the system's (Debian's `chromium`), never a downloaded one


def print_pdf(html: str, path: Path, **options: Any) -> Path:
    """``html`` printed to a PDF at ``path`` by the system's Chromium (Playwright's
    ``page.pdf`` ``options``: ``format``, ``margin``, headers and footers…; A5 unless
    given)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.set_content(html)
        page.pdf(path=str(path), **{"format": "A5", **options})
        browser.close()
    return path
