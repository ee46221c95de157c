"""Exact quantiles and histograms of values that do not fit in memory, by histogram refinement.

``exact_quantiles(source, ranges, quantiles, bins)`` takes a ``source``: a callable that starts a
fresh pass over (values, is_bos) chunks, e.g. the per-row norm side files of an activation store.
It returns, per group (``all`` / ``non_bos`` / ``bos``), the exact quantiles under numpy's default
"linear" rule (bit-for-bit those of ``np.quantile`` over all values: the order statistics, then
numpy's own interpolation arithmetic) and a display histogram.

How: the ranks each quantile needs are known from the count; one pass counts values per bin of a
fine histogram, which pins each rank to one bin; a second pass collects just those bins (as
distinct values with counts, so heavy ties cost nothing) and reads the ranks off. A bin still too
big is refined again. Memory stays flat; values are never all loaded. Non-finite values are left
out (the statistics' rule for NaN / Inf rows). Up to ``_IN_MEMORY_LIMIT`` values in all (16 MiB of
float64) are simply loaded in one pass and their order statistics picked out in memory
(``stats_kernel.order_statistics``): the same figures, a fraction of the time (a 90-point
extraction finalises 90 of these). Histogram counts come from ``stats_kernel.bin_counts``.

This module is NOT responsible for where the values come from or for any other statistic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import numpy as np

from interpstudio.ml.stats_kernel import bin_counts, order_statistics

_SELECT_BINS = 4096  # bins per refinement pass
_SELECT_COLLECT_LIMIT = 1 << 20  # a bin with at most this many values is collected in memory
_IN_MEMORY_LIMIT = 1 << 21  # up to this many values (16 MiB) in all: one pass, np.quantile

NormChunk = tuple[np.ndarray, np.ndarray]  # (values (n,) float64, is_bos (n,) bool)
NormSource = Callable[[], Iterable[NormChunk]]  # each call starts a fresh pass over all rows


class _Search(NamedTuple):
    """Ranks of one group known to lie in [lo, hi) (or [lo, hi]), with ``below`` values under lo."""

    group: str
    lo: float
    hi: float
    include_hi: bool
    below: int
    ranks: list[int]


def exact_quantiles(
    source: NormSource,
    ranges: dict[str, tuple[int, float, float]],
    quantiles: Iterable[float],
    histogram_bins: int,
) -> dict[str, tuple[dict[str, float] | None, dict[str, list[Any]] | None]]:
    """Exact quantiles (numpy "linear" rule) and a histogram of the finite values of each group.

    ``ranges`` maps a group (``all`` / ``non_bos`` / ``bos``) to (count, min, max) of its finite
    values, known from streaming. Order statistics are found by histogram refinement: a pass counts
    values per bin, then the bins holding the wanted ranks are collected (as distinct values and
    counts) or, if huge, refined again. Usually two passes; memory stays flat.
    """
    qs = list(quantiles)
    if 0 < ranges.get("all", (0, 0.0, 0.0))[0] <= _IN_MEMORY_LIMIT:
        return _in_memory(source, ranges, qs, histogram_bins)
    wanted = {
        g: sorted({r for q in qs for r in _ranks_for(q, n)})
        for g, (n, _, _) in ranges.items()
        if n > 0
    }
    searches = [_Search(g, ranges[g][1], ranges[g][2], True, 0, r) for g, r in wanted.items()]
    found: dict[str, dict[int, float]] = {g: {} for g in wanted}
    display_edges = {g: np.linspace(ranges[g][1], ranges[g][2], histogram_bins + 1) for g in wanted}
    display = {g: np.zeros(histogram_bins, dtype=np.int64) for g in wanted}
    first_pass = True
    while searches:
        edges = [np.linspace(s.lo, s.hi, _SELECT_BINS + 1) for s in searches]
        counts = [np.zeros(_SELECT_BINS, dtype=np.int64) for _ in searches]
        for values in _iter_groups(source, wanted):
            for s, e, c in zip(searches, edges, counts, strict=True):
                c += bin_counts(_inside(values[s.group], s), e)
            for g in wanted if first_pass else ():
                display[g] += bin_counts(values[g], display_edges[g])
        first_pass = False
        to_collect: list[_Search] = []
        refined: list[_Search] = []
        for s, e, c in zip(searches, edges, counts, strict=True):
            if s.lo == s.hi:
                found[s.group].update({r: s.lo for r in s.ranks})
                continue
            cum = np.cumsum(c)
            by_bin: dict[int, list[int]] = {}
            for r in s.ranks:
                by_bin.setdefault(int(np.searchsorted(cum, r - s.below, side="right")), []).append(
                    r
                )
            for j, ranks in by_bin.items():
                last = j == _SELECT_BINS - 1
                sub = _Search(
                    s.group,
                    float(e[j]),
                    float(e[j + 1]),
                    s.include_hi and last,
                    s.below + (int(cum[j - 1]) if j else 0),
                    ranks,
                )
                stalled = sub[1:4] == s[1:4]  # [lo, nextafter(lo)]: at most two distinct values
                small = c[j] <= _SELECT_COLLECT_LIMIT
                (to_collect if small or stalled else refined).append(sub)
        if to_collect:
            pieces: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in to_collect]
            for values in _iter_groups(source, wanted):
                for s, piece in zip(to_collect, pieces, strict=True):
                    piece.append(np.unique(_inside(values[s.group], s), return_counts=True))
            for s, piece in zip(to_collect, pieces, strict=True):
                found[s.group].update(_order_statistics(piece, s.ranks, s.below))
        searches = refined
    out: dict[str, tuple[dict[str, float] | None, dict[str, list[Any]] | None]] = {}
    for name, (n, _, _) in ranges.items():
        if n == 0:
            out[name] = (None, None)
            continue
        quant = {repr(float(q)): _linear(found[name], q, n) for q in qs}
        histogram = {"edges": display_edges[name].tolist(), "counts": display[name].tolist()}
        out[name] = (quant, histogram)
    return out


def _in_memory(
    source: NormSource,
    ranges: dict[str, tuple[int, float, float]],
    qs: list[float],
    histogram_bins: int,
) -> dict[str, tuple[dict[str, float] | None, dict[str, list[Any]] | None]]:
    """Few values: one pass, then the order statistics the quantiles need picked out by the
    compiled selection (``np.quantile``'s partition took most of a 90-point summary) and the
    same display bins."""
    wanted = {g: [0] for g, (n, _, _) in ranges.items() if n > 0}
    parts: dict[str, list[np.ndarray]] = {g: [] for g in wanted}
    for values in _iter_groups(source, wanted):
        for g, v in values.items():
            parts[g].append(v)
    out: dict[str, tuple[dict[str, float] | None, dict[str, list[Any]] | None]] = {}
    for name, (n, lo, hi) in ranges.items():
        values = np.concatenate(parts[name]) if n else np.empty(0)
        if len(values) == 0:  # no rows, or only rows whose norm overflowed (left out as Inf)
            out[name] = (None, None)
            continue
        ranks = sorted({r for q in qs for r in _ranks_for(q, len(values))})
        found = dict(zip(ranks, order_statistics(values, np.array(ranks, np.int64)).tolist(),
                         strict=True))
        quant = {repr(float(q)): _linear(found, q, len(values)) for q in qs}
        edges = np.linspace(lo, hi, histogram_bins + 1)
        counts = bin_counts(values, edges)
        out[name] = (quant, {"edges": edges.tolist(), "counts": counts.tolist()})
    return out


def _iter_groups(
    source: NormSource, wanted: dict[str, list[int]]
) -> Iterator[dict[str, np.ndarray]]:
    """One pass over ``source``: per chunk, the finite values of each wanted group."""
    for norms, is_bos in source():
        norms = np.asarray(norms, dtype=np.float64)
        is_bos = np.asarray(is_bos, dtype=bool)
        finite = np.isfinite(norms)
        masks = {"all": finite, "non_bos": finite & ~is_bos, "bos": finite & is_bos}
        yield {g: norms[masks[g]] for g in wanted}


def _order_statistics(
    pieces: list[tuple[np.ndarray, np.ndarray]], ranks: list[int], before: int
) -> dict[int, float]:
    """Value at each rank from (distinct values, counts) pieces; ``before`` values lie below."""
    values = np.concatenate([v for v, _ in pieces])
    counts = np.concatenate([c for _, c in pieces])
    order = np.argsort(values, kind="stable")
    values, counts = values[order], counts[order]
    distinct, first = np.unique(values, return_index=True)
    cum = np.cumsum(np.add.reduceat(counts, first)) if len(values) else np.zeros(0, np.int64)
    return {r: float(distinct[np.searchsorted(cum, r - before, side="right")]) for r in ranks}


def _inside(values: np.ndarray, s: _Search) -> np.ndarray:
    keep = (values >= s.lo) & ((values <= s.hi) if s.include_hi else (values < s.hi))
    return values[keep]


def _ranks_for(q: float, n: int) -> tuple[int, int]:
    h = (n - 1) * q
    lo = math.floor(h)
    return lo, min(lo + 1, n - 1)


def _linear(order_stats: dict[int, float], q: float, n: int) -> float:
    """numpy's default quantile in numpy's own float64 arithmetic (its ``_get_indexes`` and
    ``_lerp``), so that it is bit for bit ``np.quantile``: h = (n - 1) * q between x[lo] and
    x[lo + 1], lo = floor(h), g = h - lo: a + (b - a) * g, or b - (b - a) * (1 - g) where
    g >= 0.5; at h >= n - 1 both are x[n - 1] with g = h + 1."""
    h = (n - 1) * q
    if h >= n - 1:
        a = b = order_stats[n - 1]
        g = h + 1  # numpy's previous index there is -1
    else:
        lo = math.floor(h)
        a, b = order_stats[lo], order_stats[lo + 1]
        g = h - lo
    diff = b - a
    return float(b - diff * (1 - g)) if g >= 0.5 else float(a + diff * g)
