"""Refuses what a web page on another site could make a browser send to the local server.

CORS being off only stops a foreign page from *reading* responses, not from sending requests: a
``<form method=post>`` or a ``fetch(url, {method: "POST", mode: "no-cors"})`` reaches a loopback
server with the user's browser, and so does a WebSocket (browsers apply no same-origin rule to
them). Two checks, for every request under ``/api``:

- **Origin** (always): a state-changing request (any method but GET, HEAD, OPTIONS) or a WebSocket
  handshake that carries an ``Origin`` header must come from the app's own origin (the ``Origin``
  names the host and port of the request's ``Host``) or from one of ``cors_origins``; anything
  else, ``null`` included, is a 403 ``cross_origin_refused``. Requests without ``Origin`` (curl,
  the CLI, Python clients; browsers always send it on these) pass.
- **Host** (only without an API key, i.e. on loopback): the ``Host`` header must name a loopback
  address (``localhost``, ``127.x.x.x``, ``[::1]``) or one of ``allowed_hosts``; otherwise a
  403 ``host_not_allowed``. This stops DNS rebinding, where a foreign site's name resolves to
  127.0.0.1 and its page then is "same-origin" with the server. With an API key the key guards
  every request instead (a foreign page cannot send it).

This module is NOT responsible for the API key itself (``auth.py``) nor for CORS headers.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from interpstudio.api.errors import error_response, send_refusal

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _split_host(host: str) -> tuple[str, int | None]:
    """``"[::1]:8000"`` -> ``("::1", 8000)``; ``"Example.org"`` -> ``("example.org", None)``."""
    try:
        parts = urlsplit(f"//{host.strip()}")
        return (parts.hostname or "").lower(), parts.port
    except ValueError:  # a port that is not a number
        return "", None


def is_loopback_name(hostname: str) -> bool:
    if hostname == "localhost" or hostname.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def same_origin(origin: str, host: str, scheme: str) -> bool:
    """Whether ``origin`` (``scheme://host[:port]``) names the server the request reached."""
    try:
        parts = urlsplit(origin)
        origin_host, origin_port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        return False
    request_host, request_port = _split_host(host)
    # a Host without a port means the default port of the scheme the BROWSER used (the Origin's):
    # behind a TLS-terminating proxy the server itself sees http for https://studio.example.org
    default = _DEFAULT_PORTS.get(parts.scheme, _DEFAULT_PORTS.get(scheme, 80))
    return (bool(origin_host) and origin_host == request_host
            and (origin_port or default) == (request_port or default))


class OriginGuardMiddleware:
    def __init__(self, app: ASGIApp, *, cors_origins: list[str], allowed_hosts: list[str],
                 check_host: bool) -> None:
        self.app = app
        self._origins = {o.rstrip("/").lower() for o in cors_origins}
        self._hosts = {h.lower() for h in allowed_hosts}
        self._check_host = check_host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not scope["path"].startswith("/api"):
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host") or ""
        if self._check_host and host:
            hostname, _ = _split_host(host)
            if not (is_loopback_name(hostname) or hostname in self._hosts):
                response = error_response(
                    403, "host_not_allowed",
                    f"requests for host {hostname!r} are refused: this server answers only its "
                    "loopback names; to reach it by another name, list that name in "
                    "INTERPSTUDIO_ALLOWED_HOSTS (or serve with an API key)",
                    {"host": hostname})
                await send_refusal(scope, receive, send, response, ws_code=4403)
                return
        origin = _header(scope, b"origin")
        changes = scope["type"] == "websocket" or scope.get("method", "GET") not in SAFE_METHODS
        if changes and origin is not None and origin.rstrip("/").lower() not in self._origins:
            scheme = scope.get("scheme", "http")
            if not same_origin(origin, host, scheme):
                response = error_response(
                    403, "cross_origin_refused",
                    f"a request from the page at {origin!r} is refused: only the app's own pages "
                    "(or origins listed in INTERPSTUDIO_CORS_ORIGINS) may change anything here",
                    {"origin": origin})
                await send_refusal(scope, receive, send, response, ws_code=4403)
                return
        await self.app(scope, receive, send)
