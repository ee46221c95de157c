"""The embedded worker pool: children run jobs, are restarted when they die, and never outlive a
``serve`` that was killed with SIGKILL (no orphan workers polling the database)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from helpers import make_settings, wait_for
from interpstudio.db.migrate import upgrade

PARENT = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from helpers import make_settings
from interpstudio.jobs.pool import WorkerPool
pool = WorkerPool(make_settings(Path({tmp!r})), size=1)
pool.start()
print(pool.pids[0], flush=True)
time.sleep(600)
"""


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_pool_children_exit_when_serve_is_killed(tmp_path: Path) -> None:
    upgrade(make_settings(tmp_path).resolved_database_url)
    script = PARENT.format(tests=str(Path(__file__).parents[1]), tmp=str(tmp_path))
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert psutil.pid_exists(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        wait_for(lambda: _gone(child), timeout=30)
    finally:
        parent.kill()
        if not _gone(child):
            os.kill(child, signal.SIGKILL)


def test_pool_restarts_a_dead_child(tmp_path: Path) -> None:
    from interpstudio.jobs.pool import WorkerPool

    settings = make_settings(tmp_path)
    upgrade(settings.resolved_database_url)
    pool = WorkerPool(settings, size=1)
    pool.start()
    try:
        first = pool.pids[0]
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: pool.pids and pool.pids[0] != first and psutil.pid_exists(pool.pids[0]),
                 timeout=30)
    finally:
        pool.stop()
    assert all(_gone(pid) for pid in pool.pids)
