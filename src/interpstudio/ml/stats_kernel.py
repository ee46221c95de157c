"""The element-wise part of the streaming statistics, as one compiled pass over the rows.

``fold_rows`` folds a chunk of ``(n, d)`` rows into the per-dimension float64 accumulators of the
two row groups (0 = non-BOS, 1 = BOS) that ``stats.StreamingStats`` keeps: count, mean and M2
(Chan et al.'s merge of blocks of rows, each block two-pass: mean first, then squared deviations)
of the values minus a fixed per-group ``shift`` (the mean of the group's first block of finite
rows, set here where it is NaN: about a shift near the data the block means are exact to an ulp
of the spread, not of the values, which the merge's squared difference of means would carry into
M2), min, max, sum of |x|, the count of |x| below a threshold, and NaN / Inf / non-finite-row
counts. It returns each row's L2 norm (NaN for a row with NaN or Inf). float16 rows are read as
their uint16 bits and decoded exactly (``_half_to_double``: the CPU's own conversion where the
target has one, x86 F16C or arm64, else integer and float64 arithmetic; numba has no CPU float16
type, and a 65,536-entry lookup table was 2x slower: gathers do not vectorise), other floats are
widened to float64: every sum, square and comparison happens in float64.

Why compiled: the same figures as a dozen numpy passes over a float64 copy cost ~5-9 us per
576-wide row, which on a 2-core CPU took a quarter of the extraction's time. One fused pass over
an L2-sized block, with the per-dimension accumulators updated for four rows at a time (their loads
and stores bound a row-at-a-time loop), measured 0.47 / 0.35 us per float16 / float32 row on a
quiet machine (the row-at-a-time table version: 1.01 / 0.54), 0.29 us per float16 row once F16C
decoded it (the arithmetic decoder took 0.36 ns of the 0.8 ns an element); it releases the GIL
(``nogil``) so the store's writer threads fold hook points in parallel with the forward pass. The
decoders are two functions chosen by which input is non-empty, not a function argument: numba's
disk cache (``cache=True``) only hits across processes that way.

``bin_counts`` is the compiled histogram that ``stats_quantiles`` counts norms with.

This module is NOT responsible for the norm moments, quantiles or top-k rows (numpy, in ``stats``
and ``stats_quantiles``), for grouping policy (the caller passes ``group`` per row) or for file
I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.core.base import BaseContext
from numba.core.typing.templates import Signature
from numba.extending import intrinsic

BLOCK_BYTES = 256 << 10  # float64 block of decoded rows, kept in L2 between the two passes


def fold_rows(
    x: np.ndarray,
    group: np.ndarray,
    threshold: float,
    count: np.ndarray,
    mean: np.ndarray,
    m2: np.ndarray,
    shift: np.ndarray,
    minimum: np.ndarray,
    maximum: np.ndarray,
    abs_sum: np.ndarray,
    tallies: np.ndarray,
) -> np.ndarray:
    """Fold rows ``x`` (n, d) (float16 / float32 / float64) into the accumulators, in place.

    group: (n,) int8, 0 or 1. count: (2,) int64 finite rows per group. mean, m2 (of the values
    minus ``shift``), shift (NaN rows: unset, set to the mean of the group's first block of finite
    rows), minimum,
    maximum, abs_sum: (2, d) float64. tallies: (2, 4) int64 per group: elements with |x| below
    ``threshold``, NaN elements, Inf elements, non-finite rows. Returns the (n,) float64 norms.
    """
    x = np.ascontiguousarray(x)
    n, d = x.shape
    # exactly one of bits / floats holds the rows: a function argument choosing the decoder
    # would make numba's on-disk cache miss in every new process (~2 s compiling each time)
    if x.dtype == np.float16:
        bits, floats = x.view(np.uint16), np.empty((0, d), np.float32)
    else:
        floats = x if x.dtype in (np.float32, np.float64) else x.astype(np.float64)
        bits = np.empty((0, d), np.uint16)
    norms = np.empty(n, dtype=np.float64)
    block = max(1, BLOCK_BYTES // (8 * d))
    _fold(bits, floats, np.ascontiguousarray(group, dtype=np.int8),
          float(threshold), block, count, mean, m2, shift, minimum, maximum, abs_sum, tallies,
          norms)
    return norms


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Histogram (bins,) int64 of finite ``values`` (n,) float64 over ``edges`` (bins + 1,): value v
    counts in bin j where edges[j] <= v < edges[j+1], below the first edge in the first bin, at
    the top edge or above in the last (``np.searchsorted(edges, v, "right") - 1``, clipped).

    Compiled: a value's bin is guessed from where it lies in the range, then moved until it
    holds, so it is exact for any sorted finite edges (linspace's rounding, repeated edges); 4x
    faster than ``searchsorted`` and none of its three (n,) temporaries, whose fresh pages cost
    more than the search on a VM. Edges that are not all finite take numpy's way."""
    counts = np.zeros(len(edges) - 1, dtype=np.int64)
    edges = np.ascontiguousarray(edges, dtype=np.float64)
    if not np.isfinite(edges).all():
        bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(counts) - 1)
        return np.bincount(bins, minlength=len(counts))
    _bin_counts(np.ascontiguousarray(values, dtype=np.float64), edges, counts)
    return counts


@numba.njit(nogil=True, cache=True)
def _bin_counts(values, edges, counts) -> None:
    bins = counts.shape[0]
    lo = edges[0]
    width = edges[bins] - lo
    scale = bins / width if width > 0 else 0.0  # inf for a subnormal width
    for i in range(values.shape[0]):
        v = values[i]
        guess = (v - lo) * scale  # NaN or inf there: compared before it is made an integer
        j = bins - 1 if guess >= bins - 1 else (int(guess) if guess > 0 else 0)
        while j > 0 and v < edges[j]:
            j -= 1
        while j < bins - 1 and v >= edges[j + 1]:
            j += 1
        counts[j] += 1


def order_statistics(values: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """The ``ranks`` (k,) int64 (0-based, ascending, each < n) order statistics of finite
    ``values`` (n,) float64, as sorting would give them: (k,) float64.

    Compiled selection, ~6x faster than ``np.partition`` on 8,192 values (whose branches a
    predictor cannot learn): each value's bin is the top bits of its float64 bit pattern,
    ordered as the values are (so the bins are log-spaced and a BOS outlier does not squeeze
    the rest into one bin); a pass counts values per bin, a second gathers the values of the
    bins holding a wanted rank, and only those are sorted."""
    out = np.empty(len(ranks), dtype=np.float64)
    if len(ranks) and not 0 <= ranks[0] <= ranks[-1] < len(values):
        raise IndexError(f"ranks must lie in [0, {len(values)}), got {ranks[0]}..{ranks[-1]}")
    if len(ranks):
        _order_statistics(np.ascontiguousarray(values, dtype=np.float64),
                          np.ascontiguousarray(ranks, dtype=np.int64), out)
    return out


_SELECT_BITS = 12  # 4,096 bins


@numba.njit(nogil=True, cache=True)
def _order_key(bits):
    """float64 bit pattern (int64) -> an int64 ordered as the floats are (-0.0 just below 0.0)."""
    return bits if bits >= 0 else bits ^ 0x7FFFFFFFFFFFFFFF


@numba.njit(nogil=True, cache=True)
def _order_statistics(values, ranks, out) -> None:
    bits = values.view(np.int64)
    n = values.shape[0]
    low = _order_key(bits[0])
    high = low
    for i in range(n):
        key = _order_key(bits[i])
        low = min(low, key)
        high = max(high, key)
    span = np.uint64(high) - np.uint64(low)  # wraps to the true difference
    shift = 0
    while (span >> np.uint64(shift)) >= (1 << _SELECT_BITS):
        shift += 1
    counts = np.zeros((1 << _SELECT_BITS) + 1, dtype=np.int64)
    for i in range(n):
        counts[(np.uint64(_order_key(bits[i])) - np.uint64(low)) >> np.uint64(shift)] += 1
    # the bins of the wanted ranks, and where each one's values start in the gathered values
    wanted = np.zeros(counts.shape[0], dtype=np.bool_)
    gathered_at = np.zeros(counts.shape[0], dtype=np.int64)
    below = 0
    gathered = 0
    k = 0
    for b in range(counts.shape[0]):
        if k < ranks.shape[0] and ranks[k] < below + counts[b]:
            wanted[b] = True
            gathered_at[b] = gathered
            gathered += counts[b]
            while k < ranks.shape[0] and ranks[k] < below + counts[b]:
                k += 1
        below += counts[b]
    picked = np.empty(gathered, dtype=np.float64)
    fill = 0
    for i in range(n):
        if wanted[(np.uint64(_order_key(bits[i])) - np.uint64(low)) >> np.uint64(shift)]:
            picked[fill] = values[i]
            fill += 1
    picked.sort()  # bins are value ranges in order: sorted, each wanted bin's values stay apart
    b = 0
    below = 0
    for k in range(ranks.shape[0]):
        while ranks[k] >= below + counts[b]:
            below += counts[b]
            b += 1
        out[k] = picked[gathered_at[b] + ranks[k] - below]


def compile_ahead() -> None:
    """Compile the pass (or load it from numba's on-disk cache) now: ``make setup`` runs this
    once per install, so that the first extraction does not stall ~2.5 s (more on a busy
    machine) at its first shard, which its ETA showed as a stall."""
    d = 8
    fold_rows(np.zeros((4, d), np.float16), np.zeros(4, np.int8), 0.0, np.zeros(2, np.int64),
              np.zeros((2, d)), np.zeros((2, d)), np.full((2, d), np.nan),
              np.full((2, d), np.inf),
              np.full((2, d), -np.inf), np.zeros((2, d)), np.zeros((2, 4), np.int64))
    bin_counts(np.zeros(4), np.linspace(0.0, 1.0, 3))
    order_statistics(np.zeros(4), np.zeros(1, np.int64))


@numba.njit(nogil=True, cache=True)
def _decode_bits(values, start, stop, buf) -> None:
    """float16 bits -> float64, exactly (see ``_half_to_double``)."""
    for r in range(stop - start):
        for j in range(values.shape[1]):
            buf[r, j] = _half_to_double(values[start + r, j])


def _has_half_conversion(context: BaseContext) -> bool:
    """Whether the code numba makes converts float16 in hardware: every arm64 CPU, x86 with F16C
    (where neither, LLVM would call a runtime helper that numba cannot link)."""
    triple, _, features = context.codegen().magic_tuple()
    return triple.startswith(("aarch64", "arm64")) or "+f16c" in features.split(",")


def _emit_half_to_double(builder: ir.IRBuilder, bits: ir.Value, hardware: bool) -> ir.Value:
    """float16 bits (i16) -> double, exactly. ``hardware``: LLVM's ``fpext`` (vcvtph2ps on x86,
    ~0.1 ns an element vectorised, a third of the arithmetic below). Else in integer and float64
    arithmetic that vectorises too: the scale 2^(max(e, 1) - 25) is built as a float64 bit
    pattern and multiplied by the integer significand (the product is exact)."""
    if hardware:
        return builder.fpext(builder.bitcast(bits, ir.HalfType()), ir.DoubleType())
    i64, f64 = ir.IntType(64), ir.DoubleType()
    h = builder.zext(bits, i64)
    e = builder.and_(builder.lshr(h, i64(10)), i64(0x1F))
    m = builder.and_(h, i64(0x3FF))
    normal = builder.icmp_unsigned("!=", e, i64(0))
    exponent = builder.add(builder.select(normal, e, i64(1)), i64(998))
    scale = builder.bitcast(builder.shl(exponent, i64(52)), f64)
    significand = builder.add(m, builder.select(normal, i64(1024), i64(0)))
    mag = builder.fmul(builder.uitofp(significand, f64), scale)
    special = builder.select(builder.icmp_unsigned("==", m, i64(0)), f64(math.inf), f64(math.nan))
    mag = builder.select(builder.icmp_unsigned("==", e, i64(0x1F)), special, mag)
    negative = builder.icmp_unsigned("!=", builder.lshr(h, i64(15)), i64(0))
    return builder.select(negative, builder.fneg(mag), mag)


@intrinsic
def _half_to_double(typingctx: Any, bits: types.Type) -> tuple[Signature, Callable[..., Any]]:
    """float16 bits (uint16) -> float64, exactly: in hardware where the target has it."""

    def codegen(context: BaseContext, builder: ir.IRBuilder, sig: Signature,
                args: list[ir.Value]) -> ir.Value:
        return _emit_half_to_double(builder, args[0], _has_half_conversion(context))

    return types.float64(types.uint16), codegen


@intrinsic
def _half_to_double_portable(typingctx: Any, bits: types.Type
                             ) -> tuple[Signature, Callable[..., Any]]:
    """``_half_to_double`` without hardware conversion on any target (tests check it here)."""

    def codegen(context: BaseContext, builder: ir.IRBuilder, sig: Signature,
                args: list[ir.Value]) -> ir.Value:
        return _emit_half_to_double(builder, args[0], False)

    return types.float64(types.uint16), codegen


@numba.njit(nogil=True, cache=True)
def _decode_float(values, start, stop, buf) -> None:
    """float32 / float64 -> float64."""
    for r in range(stop - start):
        for j in range(values.shape[1]):
            buf[r, j] = values[start + r, j]


# Reassociation lets LLVM vectorise this one reduction: still float64, in a fixed order (the result
# depends only on the row), and NaN / Inf propagate (no "finite math" flags anywhere here).
@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def _sum_squares(row) -> float:
    sq = 0.0
    for j in range(row.shape[0]):
        sq += row[j] * row[j]
    return sq


@numba.njit(nogil=True, cache=True)
def _accumulate(row, shift, total, minimum, maximum, abs_sum, threshold) -> int:
    below = 0
    for j in range(row.shape[0]):
        v = row[j]
        total[j] += v - shift[j]
        minimum[j] = v if v < minimum[j] else minimum[j]  # selects: vectorised, no flags
        maximum[j] = v if v > maximum[j] else maximum[j]
        a = abs(v)
        abs_sum[j] += a
        below += a < threshold
    return below


@numba.njit(nogil=True, cache=True)
def _add_squared_deviations(row, center, m2) -> None:
    for j in range(row.shape[0]):
        delta = row[j] - center[j]
        m2[j] += delta * delta


@numba.njit(nogil=True, cache=True)
def _accumulate4(r0, r1, r2, r3, shift, total, minimum, maximum, abs_sum, threshold) -> int:
    """``_accumulate`` of four finite rows of one group at once: a quarter of the loads and
    stores of the accumulators, which bound the one-row loop."""
    below = 0
    for j in range(r0.shape[0]):
        a, b, c, d = r0[j], r1[j], r2[j], r3[j]
        k = shift[j]
        total[j] += ((a - k) + (b - k)) + ((c - k) + (d - k))
        minimum[j] = min(minimum[j], min(min(a, b), min(c, d)))
        maximum[j] = max(maximum[j], max(max(a, b), max(c, d)))
        aa, ab, ac, ad = abs(a), abs(b), abs(c), abs(d)
        abs_sum[j] += (aa + ab) + (ac + ad)
        below += (aa < threshold) + (ab < threshold) + (ac < threshold) + (ad < threshold)
    return below


@numba.njit(nogil=True, cache=True)
def _add_squared_deviations4(r0, r1, r2, r3, center, m2) -> None:
    for j in range(r0.shape[0]):
        c = center[j]
        da, db, dc, dd = r0[j] - c, r1[j] - c, r2[j] - c, r3[j] - c
        m2[j] += (da * da + db * db) + (dc * dc + dd * dd)


@numba.njit(nogil=True, cache=True)
def _fold(bits, floats, group, threshold, block, count, mean, m2, shift,
          minimum, maximum, abs_sum, tallies, norms) -> None:
    n = max(bits.shape[0], floats.shape[0])
    d = bits.shape[1]
    buf = np.empty((block, d), dtype=np.float64)  # decoded rows of one block
    ok = np.empty(block, dtype=np.bool_)
    bsum = np.empty((2, d), dtype=np.float64)
    bm2 = np.empty((2, d), dtype=np.float64)
    center = np.empty((2, d), dtype=np.float64)  # the block's mean
    for start in range(0, n, block):
        stop = min(start + block, n)
        rows = stop - start
        if bits.shape[0]:
            _decode_bits(bits, start, stop, buf)
        else:
            _decode_float(floats, start, stop, buf)
        bsum[:] = 0.0
        bm2[:] = 0.0
        bcount = np.zeros(2, dtype=np.int64)
        # pass 1: norms and finiteness of each row
        for r in range(rows):
            i = start + r
            g = group[i]
            row = buf[r]
            sq = _sum_squares(row)
            finite = math.isfinite(sq)
            if not finite:
                nan = 0
                inf = 0
                for j in range(d):
                    if math.isnan(row[j]):
                        nan += 1
                    elif math.isinf(row[j]):
                        inf += 1
                finite = nan == 0 and inf == 0  # float64 rows can overflow: still finite
                if not finite:
                    tallies[g, 1] += nan
                    tallies[g, 2] += inf
                    tallies[g, 3] += 1
                    norms[i] = np.nan
            ok[r] = finite
            if finite:
                norms[i] = math.sqrt(sq)
                bcount[g] += 1
        # a group's first rows: their mean is its shift (near the data, and near its mean)
        for g in range(2):
            if bcount[g] and math.isnan(shift[g, 0]):
                shift[g, :] = 0.0
                for r in range(rows):
                    if ok[r] and group[start + r] == g:
                        for j in range(d):
                            shift[g, j] += buf[r, j]
                for j in range(d):
                    shift[g, j] /= bcount[g]
        # pass 2: sums, min / max, |x| of the finite rows (four at a time where four in a row
        # are finite and of one group)
        r = 0
        while r < rows:
            g = group[start + r]
            if _four_alike(ok, group, start, r, rows):
                tallies[g, 0] += _accumulate4(buf[r], buf[r + 1], buf[r + 2], buf[r + 3],
                                              shift[g], bsum[g], minimum[g], maximum[g],
                                              abs_sum[g], threshold)
                r += 4
                continue
            if ok[r]:
                tallies[g, 0] += _accumulate(buf[r], shift[g], bsum[g], minimum[g],
                                             maximum[g], abs_sum[g], threshold)
            r += 1
        # pass 3: squared deviations from the block's mean, then Chan's merge
        for g in range(2):
            if bcount[g]:
                for j in range(d):
                    bsum[g, j] /= bcount[g]  # now the block mean minus the shift
                    # rounded to an ulp of the values, which moves M2 only by its square
                    center[g, j] = shift[g, j] + bsum[g, j]
        r = 0
        while r < rows:
            g = group[start + r]
            if _four_alike(ok, group, start, r, rows):
                _add_squared_deviations4(buf[r], buf[r + 1], buf[r + 2], buf[r + 3], center[g],
                                         bm2[g])
                r += 4
                continue
            if ok[r]:
                _add_squared_deviations(buf[r], center[g], bm2[g])
            r += 1
        for g in range(2):
            nb = bcount[g]
            if nb == 0:
                continue
            na = count[g]
            total = na + nb
            for j in range(d):
                delta = bsum[g, j] - mean[g, j]
                mean[g, j] += delta * (nb / total)
                m2[g, j] += bm2[g, j] + delta * delta * (na * nb / total)
            count[g] = total


@numba.njit(nogil=True, cache=True)
def _four_alike(ok, group, start, r, rows) -> bool:
    """Rows r..r+3 of the block exist, are finite and belong to one group."""
    if r + 4 > rows:
        return False
    g = group[start + r]
    for k in range(4):  # noqa: SIM110 (a generator does not compile in numba)
        if not ok[r + k] or group[start + r + k] != g:
            return False
    return True
