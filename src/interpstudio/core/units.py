"""Sizes as people read them: ``format_bytes(142_646_912) == "143 MB"``.

The one byte formatter of the Python side (job messages, the CLI), written to say what the web
UI's ``formatBytes`` (``frontend/src/lib/format.ts``) says for the same bytes: decimal units
(``B kB MB GB TB PB``, as the Hub and ``df -H``), three significant digits, ties rounded up as
JavaScript's ``toFixed`` does. A job's message is shown beside the UI's own figures, so the two
must agree; a fixed unit did not fit: a tiny store read "0.000 GB written" and the first batch
"0.000 GB captured".

This module is NOT responsible for counts or durations (``cli/common.py``, the UI's formatters).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

BYTE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def format_bytes(size: float) -> str:
    """``512`` -> "512 B", ``1500`` -> "1.50 kB", ``855_534_080`` -> "856 MB", ``25e9`` ->
    "25.0 GB": the largest unit that leaves at least 1 (bytes exact), three significant digits
    after rounding (999,999 bytes is "1.00 MB", not "1000 kB"; 99,999 is "100 kB")."""
    value, index = abs(float(size)), 0
    while value >= 1000 and index < len(BYTE_UNITS) - 1:
        value /= 1000
        index += 1
    digits = 0 if index == 0 else _digits(value)
    while index:  # rounding may reach the next digit (9.999 -> 10.0) or unit (999.9 -> 1.00)
        rounded = _to_fixed(value, digits)
        if rounded >= 1000 and index < len(BYTE_UNITS) - 1:
            value, index = float(rounded) / 1000, index + 1
        elif _digits(float(rounded)) != digits:
            value = float(rounded)
        else:
            break
        digits = _digits(value)
    sign = "-" if size < 0 else ""
    return f"{sign}{_to_fixed(value, digits)} {BYTE_UNITS[index]}"


def _digits(value: float) -> int:
    return 0 if value >= 100 else 1 if value >= 10 else 2


def _to_fixed(value: float, digits: int) -> Decimal:
    """JavaScript's ``value.toFixed(digits)``: the float's exact value, ties away from zero
    (Python's ``round`` and ``:.2f`` round ties to even: 1,125 bytes read "1.12 kB" here and
    "1.13 kB" in the UI)."""
    return Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
