"""Finding a running ``qa serve``, so that ``qa ask`` answers at once instead of loading the
model again (seconds per call).

``qa serve`` on an index folder leaves ``.serving.json`` there — its local URL and process
id — and takes it away when it stops; ``qa ask`` on the same folder asks that server when
the process is alive and answers, and otherwise answers in its own process. A dot file: a
snapshot of the index does not copy it.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

NOTE = ".serving.json"
LOCAL_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def local_url(host: str, port: int) -> str:
    """The URL a process on this machine reaches a server listening on ``host:port`` by."""
    host = LOCAL_HOSTS.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextlib.contextmanager
def announced(index_dir: Path, url: str) -> Iterator[None]:
    """While the block runs, ``index_dir`` says that this process serves it at ``url``
    (best effort: a folder the server may not write to just goes without)."""
    note: Path | None = index_dir / NOTE
    try:
        (index_dir / NOTE).write_text(json.dumps({"url": url, "pid": os.getpid()}), "utf-8")
    except OSError:  # no such folder (yet), or not ours to write
        note = None
    try:
        yield
    finally:
        if note is not None:
            with contextlib.suppress(OSError):
                if json.loads(note.read_text(encoding="utf-8")).get("pid") == os.getpid():
                    note.unlink()


def serving_url(index_dir: Path) -> str | None:
    """The URL of a live ``qa serve`` on ``index_dir``, if one has said so and is running."""
    try:
        note = json.loads((index_dir / NOTE).read_text(encoding="utf-8"))
        pid, url = int(note["pid"]), str(note["url"])
        os.kill(pid, 0)  # raises when no such process
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return url if url.startswith("http://") else None


def ask_server(
    url: str, question: str, top_k: int, with_answer: bool, key: str | None, timeout: float = 30
) -> dict[str, Any]:
    """``POST /query`` of the server at ``url``: the same body ``qa ask --json`` prints.
    Raises ``OSError`` when the server cannot be asked (the caller answers itself) and
    ``ValueError`` with the server's message when it refuses the question."""
    body = json.dumps({"question": question, "top_k": top_k, "answer": with_answer}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(f"{url}/query", body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            reply: dict[str, Any] = json.loads(response.read())
            return reply
    except urllib.error.HTTPError as exc:
        if exc.code in (400, 422):
            raise ValueError(json.loads(exc.read())["error"]["message"]) from exc
        raise OSError(f"the server answered {exc.code}") from exc
