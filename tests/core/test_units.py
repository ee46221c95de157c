"""``core/units.format_bytes``: the server's sizes read as the UI's ``formatBytes`` reads them.

Found by a browser walk: a running extraction's message said "0.000 GB captured" during its first
batch and a tiny store "0.000 GB written"; the UI's own facts beside it said "71.0 MB" or "4.10
kB". Both formatters are tested on one file of cases (``frontend/src/lib/format-bytes-cases.json``,
also read by ``format.test.ts``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interpstudio.core.units import format_bytes

CASES = Path(__file__).parents[2] / "frontend" / "src" / "lib" / "format-bytes-cases.json"


@pytest.mark.parametrize(("size", "text"), json.loads(CASES.read_text())["cases"])
def test_format_bytes_says_what_the_ui_says(size: int, text: str) -> None:
    assert format_bytes(size) == text


def test_format_bytes_picks_a_unit_that_fits_small_sizes() -> None:
    assert format_bytes(4_096) == "4.10 kB"
    assert format_bytes(0) == "0 B"
