"""A real ``redis-server`` of a test's own, on a free port, that the test can stop and start
again to cause a real broker outage (``stop()`` kills the process: every client connection drops
and new ones are refused until ``start()``). The ``redis_server`` fixture yields one, or skips the
test where ``redis-server`` is not installed. This module is NOT a test double of Redis.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    def __init__(self, work_dir: Path) -> None:
        self.port = free_port()
        self._work_dir = work_dir
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self._process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self._work_dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while self.cli("ping") != "PONG":
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def cli(self, *args: str) -> str:
        result = subprocess.run(["redis-cli", "-p", str(self.port), *args],
                                capture_output=True, text=True, timeout=10)
        return result.stdout.strip()

    def subscribers(self, channel: str) -> int:
        """How many connections are subscribed to ``channel`` (``PUBSUB NUMSUB``)."""
        return int(self.cli("pubsub", "numsub", channel).splitlines()[1])

    def channels(self) -> list[str]:
        return self.cli("pubsub", "channels").splitlines()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()
