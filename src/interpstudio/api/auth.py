"""API-key check for every HTTP and WebSocket request under ``/api`` when a key is configured.

HTTP requests carry ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``, never the key in the
URL (it would leak through browser history, proxies and access logs); only WebSockets may use the
``api_key`` query parameter (browsers cannot set WebSocket headers). The static UI shell
itself holds no data and is served without a key, so the browser can load it and then ask
the user for one.
This module is NOT responsible for deciding whether a key is required (settings refuse to bind off
loopback without one).
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from interpstudio.api.errors import error_response, send_refusal


def presented_key(scope: Scope) -> str | None:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    if "x-api-key" in headers:
        return headers["x-api-key"]
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    if scope["type"] != "websocket":
        return None
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("api_key")
    return values[0] if values else None


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self._key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not scope["path"].startswith("/api"):
            await self.app(scope, receive, send)
            return
        key = presented_key(scope)
        if key is not None and hmac.compare_digest(key.encode(), self._key):
            await self.app(scope, receive, send)
            return
        response = error_response(401, "unauthorized",
                                  "missing or wrong API key: send it as the X-API-Key header",
                                  headers={"WWW-Authenticate": "Bearer"})
        await send_refusal(scope, receive, send, response, ws_code=4401)
