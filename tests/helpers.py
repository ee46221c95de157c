"""Small helpers shared by tests (imported as ``helpers``; tests/ is on the path)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from interpstudio.core.settings import Settings


def make_settings(tmp_path: Path, database_url: str | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url or f"sqlite:///{tmp_path / 'app.db'}",
        "heartbeat_interval_s": 0.2,
        "heartbeat_timeout_s": 1.0,
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
