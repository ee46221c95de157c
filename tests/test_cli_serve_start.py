"""``interpstudio serve`` as a researcher starts it: a port already taken is one line before
anything starts (it was uvicorn's "[Errno 98] ..." after "Interp Studio on http://..." and a job
worker started for nothing), and the start is not buried under alembic's seven "setup plugin"
lines."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from test_cli import run_cli


def test_a_port_in_use_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(tmp_path, "serve", "--port", str(port), check=False)
    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr[result.stderr.index("error: "):].split())
    assert message.startswith(f"error: cannot listen on 127.0.0.1:{port} (Address already in use)")
    assert "--port N" in message and "Traceback" not in result.stderr
    assert "Interp Studio on" not in result.stdout
    assert "started worker process" not in result.stderr


def test_serve_starts_without_alembic_s_plugin_lines(tmp_path: Path) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(tmp_path / "data"),
           "INTERPSTUDIO_WORKERS": "0"}
    server = subprocess.Popen([sys.executable, "-m", "interpstudio", "serve", "--port", str(port)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health",
                                            timeout=2) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                assert server.poll() is None, server.communicate()
                time.sleep(0.2)
    finally:
        server.terminate()
        _, err = server.communicate(timeout=60)
    assert "Running upgrade" in err or "alembic" in err  # the migrations still say what they do
    assert "setup plugin" not in err
