"""No path escapes its root; secrets never reach a log line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from interpstudio.core.errors import PathOutsideRoot
from interpstudio.core.logging import FailureStreak, RedactingFilter, redact
from interpstudio.core.paths import ensure_within, safe_join


@pytest.mark.parametrize("part", ["../x", "a/../../x", "/etc/passwd", "a/../../../tmp"])
def test_safe_join_refuses_escapes(tmp_path: Path, part: str) -> None:
    with pytest.raises(PathOutsideRoot):
        safe_join(tmp_path, part)


def test_safe_join_allows_inside(tmp_path: Path) -> None:
    assert safe_join(tmp_path, "a/b/../c") == tmp_path / "a" / "c"


def test_symlink_out_of_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(PathOutsideRoot):
        ensure_within(root / "link" / "secret", [root])


def test_a_home_of_a_user_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    """Found by the API fuzz test: ``~0`` made ``expanduser`` raise RuntimeError (a 500)."""
    from interpstudio.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="no user named '0'") as caught:
        ensure_within("~0/models", [tmp_path])
    assert caught.value.status == 422


def test_tokens_are_redacted_from_log_records(caplog: pytest.LogCaptureFixture) -> None:
    assert "hf_abcdefghijkl" not in redact("GET ?token=hf_abcdefghijkl")
    assert redact("Authorization: Bearer abc.def") == "Authorization: Bearer ***"
    logger = logging.getLogger("test.redaction")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="test.redaction"):
        logger.info("downloading with %s", "hf_SECRETSECRET123")
    assert "hf_SECRETSECRET123" not in caplog.text


def test_a_run_of_failures_is_two_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    """An outage met every tick logs its first failure and its end with the count, nothing per
    tick; a second outage is logged again."""
    logger = logging.getLogger("test.streak")
    streak = FailureStreak(logger)
    with caplog.at_level(logging.INFO, logger="test.streak"):
        streak.ended("worked after %d failures")  # no run of failures: nothing
        for _ in range(5):
            streak.failed("write of %s failed", "job 1")
        streak.ended("%s written after %d failures", "job 1")
        streak.ended("%s written after %d failures", "job 1")
        streak.failed("write of %s failed", "job 2")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "write of job 1 failed"),
        ("INFO", "job 1 written after 5 failures"),
        ("WARNING", "write of job 2 failed"),
    ]


def test_a_served_api_key_never_reaches_the_server_log(tmp_path: Path) -> None:
    """Found in a browser: uvicorn logged ``WebSocket /api/v1/ws?api_key=<the key>`` (its loggers
    have their own handlers, which the root's filter never saw). A real ``interpstudio serve``
    is asked for the WebSocket and an HTTP route with the key in the query, right and wrong."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    key, wrong = "sk-SERVEDSECRET42", "sk-WRONGGUESS77"
    env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(tmp_path / "data"),
           "INTERPSTUDIO_API_KEY": key, "INTERPSTUDIO_WORKERS": "0"}
    env.pop("INTERPSTUDIO_DATABASE_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "interpstudio", "serve", "--port", str(port)], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/v1/health", headers={"X-API-Key": key}))
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "server never came up"
                time.sleep(0.2)
        with pytest.raises(urllib.error.HTTPError) as refused:  # HTTP: the header only
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health?api_key={key}")
        assert refused.value.code == 401
        with connect(f"ws://127.0.0.1:{port}/api/v1/ws?api_key={key}"):
            pass
        with (connect(f"ws://127.0.0.1:{port}/api/v1/ws?api_key={wrong}") as refused,
              pytest.raises(ConnectionClosed) as closed):  # accepted, then closed at once
            refused.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        time.sleep(0.5)
    finally:
        server.terminate()
        log, _ = server.communicate(timeout=30)
    assert "WebSocket /api/v1/ws?api_key=***" in log  # the lines are there, masked
    assert key not in log and wrong not in log
    assert "without completing handshake" not in log and "ERROR" not in log, log
