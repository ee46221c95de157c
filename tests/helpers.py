"""Small helpers shared by tests (imported as ``helpers``; tests/ is on the path)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from interpstudio.core.settings import Settings

# a TestClient's requests name this host, as a browser on the same machine does (its default,
# "testserver", is not a loopback name, which the origin guard refuses without an API key)
LOOPBACK = "http://127.0.0.1"


def make_settings(tmp_path: Path, database_url: str | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url or f"sqlite:///{tmp_path / 'app.db'}",
        "heartbeat_interval_s": 0.2,
        "heartbeat_timeout_s": 5.0,  # generous: the API and busy workers sweep too (a loaded CI)
        "workers": 0,
    }
    values.update(overrides)
    return Settings(**values)


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with a clear message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


@contextmanager
def small_filesystem(path: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of ``size`` (e.g. "1M") at ``path``: the way to fill a disk for real.

    Needs root (as on CI); elsewhere the test is skipped with the reason."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a {size} tmpfs to fill up for real: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def start_worker_process(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """A real ``interpstudio worker`` process on ``settings``' data dir, database and Hub
    endpoint, with a fast heartbeat (0.2 s; dead after 1 s), its output appended to ``log``."""
    env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(settings.data_dir),
           "INTERPSTUDIO_DATABASE_URL": settings.resolved_database_url,
           "INTERPSTUDIO_HF_ENDPOINT": settings.hf_endpoint,
           "INTERPSTUDIO_HEARTBEAT_INTERVAL_S": "0.2", "INTERPSTUDIO_HEARTBEAT_TIMEOUT_S": "1.0"}
    return subprocess.Popen([sys.executable, "-m", "interpstudio", "worker"], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


def race_behind_uncommitted(factory: Any, action: Callable[[Any], Any],
                            head_start_s: float = 1.0) -> tuple[Any, Any]:
    """Two requests making the same record at once, deterministically: ``action(session)`` runs
    in transaction A, left uncommitted; then in transaction B on another thread (B's check finds
    nothing committed, and its insert waits on A's); then A commits. Returns A's result and B's
    result (or the exception B raised)."""
    import threading

    outcome: dict[str, Any] = {}

    def second() -> None:
        try:
            with factory.begin() as session:
                outcome["b"] = action(session)
        except Exception as exc:  # the test asserts on it
            outcome["b"] = exc

    with factory.begin() as session:
        first = action(session)
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(head_start_s)
    thread.join(timeout=120)
    return first, outcome["b"]


def database_gone_task(ctx: Any) -> None:
    """A job task whose database is gone for good: a real connection refused (port 1)."""
    from interpstudio.db.session import make_engine

    make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none").connect()


@contextmanager
def uvicorn_in_thread(settings: Settings, **config: Any) -> Iterator[int]:
    """The app of ``settings`` (migrated) served by a real uvicorn in a thread on a free
    loopback port, which it yields; stopped on exit."""
    import socket
    import threading

    import uvicorn

    from interpstudio.api.app import create_app
    from interpstudio.db.migrate import upgrade

    upgrade(settings.resolved_database_url)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    instance = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                             **config))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert instance.started, "uvicorn did not start"
    try:
        yield port
    finally:
        instance.should_exit = True
        thread.join(10)

