"""API keys with two scopes: a read key may ask and list, a write key may also change the
collection. Keys travel as ``Authorization: Bearer <key>`` and are compared in constant
time; with no keys configured the API is open (``qa serve`` then refuses to listen beyond
loopback unless ``QA_ALLOW_ANONYMOUS`` says so)."""

from __future__ import annotations

import hmac
import socket
from collections.abc import Callable
from typing import Literal

from fastapi import Request
from starlette.exceptions import HTTPException

from qa.api.deps import wants_html
from qa.core.config import Settings

Scope = Literal["read", "write"]
KEY_REQUIRED = "a valid API key is required: send it as 'Authorization: Bearer <key>'"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def keys_configured(settings: Settings) -> bool:
    return bool(settings.read_keys or settings.write_keys)


def _matches(key: str, keys: list[str]) -> bool:
    """Whether ``key`` is one of ``keys``, comparing with every one in constant time."""
    found = False
    for candidate in keys:
        found |= hmac.compare_digest(key.encode(), candidate.encode())
    return found


def scope_of(settings: Settings, authorization: str | None) -> Scope | None:
    """The scope the request's key grants (``None``: no key, or an unknown one)."""
    if not authorization:
        return None
    kind, _, key = authorization.partition(" ")
    if kind.lower() != "bearer" or not key.strip():
        return None
    key = key.strip()
    if _matches(key, settings.write_keys):
        return "write"
    if _matches(key, settings.read_keys):
        return "read"
    return None


def require(scope: Scope, page: bool = False) -> Callable[[Request], None]:
    """A dependency refusing requests whose key does not grant ``scope``: 401 without a
    known key, 403 with a read key on a write. ``page``: the route answers a browser with a
    page that holds no data (its script sends the key), which needs none; every other
    route asks for a key whatever the request accepts. (Rates are checked before:
    ratelimit.py.)"""

    def check(request: Request) -> None:
        settings: Settings = request.app.state.settings
        if page and request.method == "GET" and wants_html(request):
            return
        if not keys_configured(settings):
            return
        granted = scope_of(settings, request.headers.get("authorization"))
        if granted is None:
            raise HTTPException(401, KEY_REQUIRED, headers={"WWW-Authenticate": "Bearer"})
        if scope == "write" and granted != "write":
            raise HTTPException(403, "this key may read but not change documents")

    return check


def anonymous_refusal(settings: Settings, host: str) -> str | None:
    """Why ``qa serve`` must not listen on ``host`` as configured (``None``: it may)."""
    if host in LOOPBACK or keys_configured(settings) or settings.allow_anonymous:
        return None
    return (
        f"refusing to serve an open API on {host}: set QA_WRITE_KEYS (and QA_READ_KEYS) to "
        "require keys, or QA_ALLOW_ANONYMOUS=true to serve it open"
    )


ANY_ADDRESS = ("0.0.0.0", "::", "")


def own_hosts(bind: str) -> list[str]:
    """The names and addresses clients reach this machine by when ``qa serve`` listens on
    ``bind`` beyond loopback: its host name, and the address it listens on — or, on every
    interface, the addresses its name resolves to and the one its default route leaves
    from (a pod's address). A rebinding page names a domain of its own, never these."""
    if bind in LOOPBACK:
        return []
    names = {socket.gethostname(), socket.getfqdn()}
    if bind not in ANY_ADDRESS:
        names.add(bind)
        return sorted(n for n in names if n)
    for name in list(names):
        try:
            names.update(str(info[4][0]) for info in socket.getaddrinfo(name, None))
        except OSError:
            continue
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                udp.connect((probe, 9))  # a datagram socket sends nothing on connect
                names.add(str(udp.getsockname()[0]))
        except OSError:
            continue
    return sorted(n for n in names if n)
