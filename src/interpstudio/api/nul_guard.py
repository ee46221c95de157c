"""Refuses a NUL character (``\\u0000``) in any text a request carries, before routing.

PostgreSQL cannot store NUL in a text column nor in JSONB (psycopg raises ``DataError``), while
SQLite keeps it; so a name, a search or a filter holding one was a 500 on one database and stored
on the other. ``NulGuardMiddleware`` looks at the decoded URL path and query string and at a JSON
body (every string, object keys included, only when the body contains the ``\\u0000`` escape at
all) and answers a 422 ``invalid_input`` naming the field: one check for every route, present and
future, instead of a validated string type on each field. Multipart bodies (uploads: file bytes
may hold NUL) are passed through untouched; ``api/uploads.py`` applies ``refuse_nul`` to their
text fields and file names. This module is NOT responsible for any other rule on text.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interpstudio.api.errors import error_response
from interpstudio.core.errors import AppError, InvalidInput

NUL = "\x00"


def refuse_nul(field: str, value: str) -> None:
    """Raise ``InvalidInput`` naming ``field`` when ``value`` holds a NUL character."""
    if NUL in value:
        raise InvalidInput(f"{field} contains a NUL character (\\u0000), which cannot be stored; "
                           "remove the NUL character", details={"field": field})


def _check_json(value: Any, field: str) -> None:
    """Every string in a decoded JSON document, its object keys included."""
    if isinstance(value, str):
        refuse_nul(field or "the body", value)
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_nul(f"a key of {field}" if field else "a key of the body", key)
            _check_json(item, f"{field}.{key}" if field else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{field}[{index}]")


def _is_json(scope: Scope) -> bool:
    """Whether FastAPI would parse this body as JSON: no content type, or ``application/json``
    / ``application/*+json``."""
    for name, raw in scope["headers"]:
        if name.lower() == b"content-type":
            media = raw.decode("latin-1").split(";", 1)[0].strip().lower()
            return media == "application/json" or (media.startswith("application/")
                                                   and media.endswith("+json"))
    return True


MAX_JSON_BODY_BYTES = 16 << 20  # the largest request body read whole to be checked


class JsonBodyTooLarge(AppError):
    code = "request_too_large"
    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"a JSON request body over {limit:,} bytes; files go to POST /api/v1/datasets/upload "
            "as multipart/form-data", details={"limit_bytes": limit})


class NulGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api"):
            await self.app(scope, receive, send)
            return
        try:
            refuse_nul("the URL path", scope["path"])
            query = scope.get("query_string", b"").decode("latin-1")
            for name, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
                refuse_nul("a query parameter name", name)
                refuse_nul(f"query parameter {name}", value)
            if _is_json(scope):
                receive = await self._checked_body(receive)
        except (InvalidInput, JsonBodyTooLarge) as exc:
            await error_response(exc.status, exc.code, exc.message, exc.details)(
                scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    async def _checked_body(receive: Receive) -> Receive:
        """Read the whole body, refuse it if a string in it holds NUL, else hand it on as one
        message (what follows, a disconnect, comes from the real ``receive``). A body past
        ``MAX_JSON_BODY_BYTES`` is refused as it arrives, never held whole in memory (an upload
        sent without its multipart content type was read whole here)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # disconnected: let the app see it
                first: Message | None = message
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > MAX_JSON_BODY_BYTES:
                raise JsonBodyTooLarge(MAX_JSON_BODY_BYTES)
            if not message.get("more_body", False):
                first = None
                break
        body = b"".join(chunks)
        if first is None and b"\\u0000" in body:
            try:
                document = json.loads(body)
            except ValueError:
                document = None  # not JSON: the route's own validation answers
            _check_json(document, "")
        replay: list[Message] = [first or {"type": "http.request", "body": body,
                                           "more_body": False}]

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        return replayed
