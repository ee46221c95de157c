"""``jobs list`` says how long each finished job took: a finished job's row showed no rate, no
ETA and no time at all, so a researcher could not tell a 2 s import from a 20 min extraction."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from interpstudio.cli.common import duration_text
from test_cli import run_cli


def test_a_finished_job_says_how_long_it_took(tmp_path: Path) -> None:
    job = json.loads(run_cli(tmp_path, "selftest", "--iterations", "2", "--json").stdout)
    took = (datetime.fromisoformat(job["finished_at"])
            - datetime.fromisoformat(job["started_at"])).total_seconds()
    table = run_cli(tmp_path, "jobs", "list", env={"COLUMNS": "200"}).stdout
    assert re.search(r"┃ took\s", table), table
    row = next(line for line in table.splitlines() if line.startswith(f"│ {job['id']} "))
    assert f" {duration_text(took)} " in row, row


def test_durations_read_in_the_unit_that_fits() -> None:
    assert [duration_text(s) for s in (None, 0.04, 119.94, 600, 9000)] == [
        "?", "0.0 s", "119.9 s", "10.0 min", "2.5 h"]
