"""A refused WebSocket on a real uvicorn server (its default WebSocket protocol, in a thread):
the client is told why with a close code it can read (4401 no key, 4403 a foreign page), and
the server logs nothing at ERROR. Found in the logs: every correct refusal (a wrong key, a
foreign ``Origin``) was followed by uvicorn's "ASGI callable returned without completing
handshake" at ERROR, and a browser saw only a 1006 close."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from helpers import make_settings, uvicorn_in_thread

KEY = "s3cret-key-for-ws-tests"


@pytest.fixture
def server(tmp_path, caplog: pytest.LogCaptureFixture) -> Iterator[str]:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO)  # uvicorn's records reach caplog (log_config=None below)
    settings = make_settings(tmp_path, api_key=KEY)
    with uvicorn_in_thread(settings, log_config=None, log_level="info") as port:
        yield f"ws://127.0.0.1:{port}/api/v1/ws"


def _closed_with(url: str, **options: object) -> tuple[int, str]:
    with (connect(url, open_timeout=5, **options) as ws,  # type: ignore[arg-type]
          pytest.raises(ConnectionClosed) as info):
        ws.recv(timeout=5)
    received = info.value.rcvd
    assert received is not None
    return received.code, received.reason


def test_a_refused_websocket_is_closed_with_its_reason_and_nothing_is_logged_at_error(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert _closed_with(server) == (4401, "unauthorized")
    assert _closed_with(f"{server}?api_key=wrong") == (4401, "unauthorized")
    assert _closed_with(f"{server}?api_key={KEY}", origin="http://evil.example") == (
        4403, "cross_origin_refused")
    with connect(f"{server}?api_key={KEY}", open_timeout=5) as ws:  # the key opens it
        assert '"snapshot"' in str(ws.recv(timeout=5))
    time.sleep(0.2)  # the server's side of the last close is logged after the client's
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
