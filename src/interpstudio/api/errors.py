"""Turns every error into ``{"error": {"code", "message", "details"}}`` with the right status.

``AppError`` subclasses carry their own status; request validation is 422; unknown routes 404;
a database that cannot be reached (a dropped connection, a server restart) is a 503 with
``Retry-After``, which says to try again rather than report a bug; a value the database refuses
(``DataError``: a number out of its range, a character it cannot store) is a 422 naming that, a net
under the request validation that should have refused it first; anything else is a 500 with a
generic message (details are logged, never sent). The catch-all here
is one of the two broad excepts allowed in the codebase. This module is NOT responsible for raising
errors.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from interpstudio.core.errors import AppError
from interpstudio.db.session import is_unreachable, refusal_reason

log = logging.getLogger(__name__)

RETRY_AFTER_S = 2  # what a 503 for an unreachable database asks the client to wait


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(body, status_code=status, headers=headers)


async def send_refusal(scope: Scope, receive: Receive, send: Send, response: JSONResponse, *,
                       ws_code: int) -> None:
    """Answer a request a middleware refuses: the response itself, or for a WebSocket handshake
    an accept and at once a close with ``ws_code`` (4401, 4403) and the error's code as reason.

    Not an HTTP response instead of the upgrade: a browser cannot read its status (its socket
    just closes with 1006), so the UI could not tell "ask for the key" from a dropped network,
    and uvicorn's default WebSocket protocol logged "ASGI callable returned without completing
    handshake" at ERROR after every such refusal. Not a close before the accept either: uvicorn
    turns that into a bare HTTP 403. Nothing is sent between the accept and the close."""
    if scope["type"] != "websocket":
        await response(scope, receive, send)
        return
    reason = json.loads(response.body)["error"]["code"]  # e.g. "unauthorized"; under 123 bytes
    if (await receive())["type"] != "websocket.connect":  # the client left before its handshake
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": ws_code, "reason": reason})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg")), "type": str(e.get("type"))}
            for e in exc.errors()
        ]
        return error_response(422, "invalid_request", "the request is not valid",
                              {"errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        if not is_unreachable(exc):
            return await _unexpected(request, exc)
        log.warning("database unreachable on %s %s: %s", request.method, request.url.path,
                    exc.orig)
        return error_response(503, "database_unavailable",
                              "the database cannot be reached right now; retry in a moment",
                              headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(DataError)
    async def _refused_value(request: Request, exc: DataError) -> JSONResponse:
        reason = refusal_reason(exc)
        log.warning("database refused a value on %s %s: %s", request.method, request.url.path,
                    reason)
        return error_response(422, "value_refused_by_database",
                              "the database refused a value of this request (a number out of "
                              "range or a character it cannot store); change the value",
                              {"reason": reason})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal error; see the server log")
