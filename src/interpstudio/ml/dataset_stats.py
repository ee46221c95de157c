"""Streaming statistics of a text dataset: rows, characters, empty rows, a length histogram.

Language-agnostic: lengths are Unicode code points (``len(str)``), "empty" means nothing but
whitespace, and nothing splits words. ``TextStats`` is fed row by row (or batch by batch) and keeps
O(1) memory: exact integer counters and a fixed power-of-two histogram. This module is NOT
responsible for reading files (``text_sources.py``) or token statistics (``tokenize.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

HISTOGRAM_EDGES: tuple[int, ...] = (0, 1, *(2**k for k in range(1, 31)))  # [lo, hi) bins


def log2_bin(lengths: np.ndarray) -> np.ndarray:
    """Index into ``HISTOGRAM_EDGES`` for each length: 0 -> 0, 1 -> 1, [2^k, 2^(k+1)) -> k+1."""
    lengths = np.asarray(lengths, dtype=np.int64)  # (N,)
    safe = np.maximum(lengths, 1)
    bins = np.floor(np.log2(safe)).astype(np.int64) + 1
    bins[lengths == 0] = 0
    return np.minimum(bins, len(HISTOGRAM_EDGES) - 1)


def histogram_dict(counts: np.ndarray) -> list[dict[str, int]]:
    """Non-empty bins as ``{lo, hi, count}`` (``hi`` exclusive), trimmed to the used range."""
    used = np.nonzero(counts)[0]
    if len(used) == 0:
        return []
    bins = []
    for index in range(int(used[0]), int(used[-1]) + 1):
        lo = HISTOGRAM_EDGES[index]
        hi = HISTOGRAM_EDGES[index + 1] if index + 1 < len(HISTOGRAM_EDGES) else 2**31
        bins.append({"lo": lo, "hi": hi, "count": int(counts[index])})
    return bins


@dataclass
class LengthStats:
    """Count, sum, min, max and power-of-two histogram of integer lengths (exact)."""

    count: int = 0
    total: int = 0
    minimum: int | None = None
    maximum: int | None = None
    histogram: np.ndarray = field(
        default_factory=lambda: np.zeros(len(HISTOGRAM_EDGES), dtype=np.int64))

    def add_many(self, lengths: Iterable[int] | np.ndarray) -> None:
        values = np.fromiter(lengths, dtype=np.int64) if not isinstance(lengths, np.ndarray) \
            else lengths.astype(np.int64, copy=False)  # (N,)
        if len(values) == 0:
            return
        self.count += len(values)
        self.total += int(values.sum())
        low, high = int(values.min()), int(values.max())
        self.minimum = low if self.minimum is None else min(self.minimum, low)
        self.maximum = high if self.maximum is None else max(self.maximum, high)
        self.histogram += np.bincount(log2_bin(values), minlength=len(HISTOGRAM_EDGES))

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count, "total": self.total, "min": self.minimum, "max": self.maximum,
            "mean": float(np.float64(self.total) / self.count) if self.count else None,
            "histogram": histogram_dict(self.histogram),
        }


@dataclass
class TextStats:
    """Rows, characters, UTF-8 bytes, empty rows and the character-length histogram."""

    lengths: LengthStats = field(default_factory=LengthStats)
    empty_rows: int = 0
    utf8_bytes: int = 0

    def add_batch(self, texts: list[str]) -> None:
        self.lengths.add_many(np.fromiter((len(t) for t in texts), dtype=np.int64,
                                          count=len(texts)))
        self.empty_rows += sum(1 for t in texts if not t.strip())
        self.utf8_bytes += sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)

    @property
    def rows(self) -> int:
        return self.lengths.count

    def to_dict(self) -> dict[str, Any]:
        lengths = self.lengths.to_dict()
        return {
            "rows": self.rows, "characters": lengths["total"], "utf8_bytes": self.utf8_bytes,
            "empty_rows": self.empty_rows, "min_chars": lengths["min"],
            "max_chars": lengths["max"], "mean_chars": lengths["mean"],
            "length_histogram": lengths["histogram"], "length_unit": "characters",
        }
