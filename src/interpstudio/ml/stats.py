"""Exact streaming statistics of activations, accumulated in float64.

``StreamingStats`` summarises one hook point's rows (``(N, d)`` activations) as they stream by:
count, per-dimension and overall mean / std, signed min / max, mean |x|, the fraction of elements
with |x| below a threshold, NaN / Inf counts, the L2 norm of each row (mean, std, min, max, exact
quantiles, histogram) and the top-k highest-norm rows. Every figure is kept twice, for BOS rows and
for the other rows, and reported three times (``all``, ``non_bos``, ``bos``) so that BOS / attention
sink outliers cannot dominate the picture.

How it stays exact and never overflows:
- each chunk of rows is converted to float64 before any arithmetic (float16 values ~1e4 have a sum
  of squares far beyond float16's 65504); chunk moments are merged with Chan et al.'s parallel
  formula (count, mean, M2), never as a running sum of squares, and about a fixed shift per
  group (the mean of its first chunk of finite rows, of norms): values far from zero and close
  together (first-position rows, a massive activation's norms) would otherwise carry an ulp of
  the values from each chunk's mean into M2;
- ``std`` is the population standard deviation (ddof=0);
- quantiles are exact order statistics (numpy's default "linear" rule), found by selection over the
  per-row norms, which ``update`` returns so that the caller can keep them (the activation store
  writes them to a side file per shard); ``stats_quantiles.exact_quantiles`` reads them back in a
  few passes with flat memory.

Rows containing NaN or Inf: their NaN / Inf elements are counted (``nan_count``, ``inf_count``), the
row is counted in ``nonfinite_rows``, then the whole row is left out of every other statistic
(moments, min / max, |x|, norms, quantiles, histogram, top-k). Its norm is reported as NaN.

BOS rows are rows at position 0, plus rows whose token id is ``StatsConfig.bos_token_id`` when set.

This module is NOT responsible for reading or writing files, for decoding bfloat16 storage (callers
pass float arrays), or for the text context of top-k rows (the caller fills it in later).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple, TypeVar

import numpy as np

from interpstudio.core.errors import InvalidInput
from interpstudio.ml.stats_kernel import fold_rows
from interpstudio.ml.stats_quantiles import NormChunk, NormSource, exact_quantiles

DEFAULT_QUANTILES = (0.0, 0.001, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999, 1.0)
GROUPS: tuple[str, ...] = ("non_bos", "bos")
REPORTED_GROUPS: tuple[str, ...] = ("all", "non_bos", "bos")

TOP_DTYPE = np.dtype(
    [("norm", "f8"), ("row", "i8"), ("sequence", "i8"), ("position", "i8"), ("token_id", "i8")]
)


@dataclass(frozen=True)
class StatsConfig:
    """What to measure; stored with the statistics so that a resumed run measures the same."""

    zero_threshold: float = 1e-6
    top_k: int = 16
    bos_token_id: int | None = None
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES
    histogram_bins: int = 64

    def __post_init__(self) -> None:
        if self.top_k < 0 or self.histogram_bins < 1 or not self.zero_threshold >= 0:
            raise InvalidInput(
                "stats config needs top_k >= 0, histogram_bins >= 1 and zero_threshold >= 0",
                details=self.to_dict(),
            )
        if any(not 0.0 <= q <= 1.0 for q in self.quantiles):
            raise InvalidInput(
                "quantiles must lie in [0, 1]; pass fractions such as 0.5, not percentages",
                details={"quantiles": list(self.quantiles)},
            )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "quantiles": list(self.quantiles)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StatsConfig:
        return cls(**{**data, "quantiles": tuple(data.get("quantiles", DEFAULT_QUANTILES))})

    def bos_mask(
        self, token_ids: np.ndarray | None, positions: np.ndarray | None, n: int
    ) -> np.ndarray:
        """(n,) bool: which rows count as BOS rows (position 0, or the configured BOS token)."""
        mask = np.zeros(n, dtype=bool) if positions is None else np.asarray(positions) == 0
        if self.bos_token_id is not None and token_ids is not None:
            mask |= np.asarray(token_ids) == self.bos_token_id
        return mask


class _Group:
    """float64 accumulators for one group of rows (BOS or non-BOS) of one hook point."""

    def __init__(self, d: int) -> None:
        self.count = 0  # finite rows
        self.shift = np.full(d, np.nan)  # (d,) the first rows' mean (NaN until there are some)
        self.mean = np.zeros(d)  # (d,) mean of the rows minus ``shift``
        self.m2 = np.zeros(d)  # (d,) sum of squared deviations from the mean
        self.minimum = np.full(d, np.inf)
        self.maximum = np.full(d, -np.inf)
        self.abs_sum = np.zeros(d)
        self.below = 0  # elements with |x| < threshold
        self.nan = 0
        self.inf = 0
        self.nonfinite_rows = 0
        # count, mean (minus the shift), M2, min, max, shift (the first norms' mean, or NaN)
        self.norm = np.array([0.0, 0.0, 0.0, np.inf, -np.inf, np.nan])
        self.top = np.empty(0, dtype=TOP_DTYPE)

    def add_norms(self, norms: np.ndarray, rows: np.ndarray, meta: _RowMeta, cfg: StatsConfig
                  ) -> None:
        """Fold in the norms (n,) of this group's new finite rows, which are rows ``rows`` (n,)
        of the chunk that ``meta`` describes (the per-dimension figures are folded by
        ``stats_kernel.fold_rows``)."""
        n = norms.shape[0]
        if n == 0:
            return
        if np.isnan(self.norm[5]):  # the first norms' mean (a float64 sum of squares may be Inf)
            finite = norms[np.isfinite(norms)]
            self.norm[5] = finite.mean() if len(finite) else 0.0
        shifted = norms - self.norm[5]
        norm_mean = shifted.mean()
        d_norm = shifted - norm_mean
        batch_norm = np.array([n, norm_mean, d_norm @ d_norm, norms.min(), norms.max(),
                               self.norm[5]])
        self.norm = _merge_norm(self.norm, batch_norm)
        if cfg.top_k:
            # only rows that can enter the top k get a TOP_DTYPE record: once it is full, those
            # with at least its lowest norm (a tie with it stays out: its row number is higher)
            if len(self.top) == cfg.top_k:
                entering = norms >= self.top["norm"][-1]
                norms, rows = norms[entering], rows[entering]
            if len(rows):
                picked = _top_candidates(norms, cfg.top_k)
                records = meta.records(rows[picked], norms[picked])
                self.top = _top_k(np.concatenate([self.top, records]), cfg.top_k)

    def merge(self, other: _Group, row_offset: int, top_k: int) -> None:
        if self.count == 0:
            self.shift = other.shift.copy()
        other_mean = other.mean + (other.shift - self.shift) if other.count else other.mean
        self.count, self.mean, self.m2 = _chan_merge(
            self.count, self.mean, self.m2, other.count, other_mean, other.m2
        )
        np.minimum(self.minimum, other.minimum, out=self.minimum)
        np.maximum(self.maximum, other.maximum, out=self.maximum)
        self.abs_sum += other.abs_sum
        self.below += other.below
        self.nan += other.nan
        self.inf += other.inf
        self.nonfinite_rows += other.nonfinite_rows
        self.norm = _merge_norm(self.norm, other.norm)
        shifted = other.top.copy()
        shifted["row"] += row_offset
        self.top = _top_k(np.concatenate([self.top, shifted]), top_k)

    PER_DIM = ("mean", "m2", "shift", "minimum", "maximum", "abs_sum")  # (d,) float64 each
    TALLIES = ("below", "nan", "inf", "nonfinite_rows")  # the kernel's tallies columns
    _SCALARS = ("count", *TALLIES)
    _ARRAYS = (*PER_DIM, "norm", "top")

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        out = {f"{prefix}{k}": np.asarray(getattr(self, k), dtype=np.int64) for k in self._SCALARS}
        out.update({f"{prefix}{k}": np.asarray(getattr(self, k)) for k in self._ARRAYS})
        return out

    def load(self, state: dict[str, np.ndarray], prefix: str) -> None:
        for k in self._SCALARS:
            setattr(self, k, int(state[f"{prefix}{k}"]))
        for k in self._ARRAYS:
            if f"{prefix}{k}" in state:
                setattr(self, k, np.array(state[f"{prefix}{k}"]))
        # a state saved before moments were shifted: its means are of the values themselves
        if f"{prefix}shift" not in state:
            self.shift = np.zeros_like(self.mean)
        if len(self.norm) == 5:
            self.norm = np.append(self.norm, 0.0)

    def summary(self, d: int, per_dim: bool) -> dict[str, Any]:
        """JSON-ready figures; norm quantiles / histogram are added by the caller."""
        n = self.count
        elements = n * d
        out: dict[str, Any] = {
            "rows": n + self.nonfinite_rows,
            "count": n,
            "elements": elements,
            "nonfinite_rows": self.nonfinite_rows,
            "nan_count": self.nan,
            "inf_count": self.inf,
        }
        if n == 0:
            out.update(
                mean=None,
                std=None,
                min=None,
                max=None,
                mean_abs=None,
                fraction_below_threshold=None,
                per_dim=None,
                norm={"mean": None, "std": None, "min": None, "max": None},
                top_k=[],
            )
            return out
        # the mean of the per-dimension means (shift + mean), summed exactly: a normed point's
        # elements cancel to ~1e-9 of their size, so a rounded sum would be off in its 8th digit
        overall_mean = math.fsum([*self.shift.tolist(), *self.mean.tolist()]) / d
        spread = (self.shift - overall_mean) + self.mean  # (d,) each dimension's mean, about it
        overall_m2 = float(self.m2.sum() + n * np.square(spread).sum())
        means = self.shift + self.mean  # (d,)
        out.update(
            mean=overall_mean,
            std=math.sqrt(overall_m2 / elements),
            min=float(self.minimum.min()),
            max=float(self.maximum.max()),
            mean_abs=float(self.abs_sum.sum() / elements),
            fraction_below_threshold=self.below / elements,
            per_dim=None,
            norm={
                "mean": float(self.norm[5] + self.norm[1]),
                "std": math.sqrt(self.norm[2] / self.norm[0]),
                "min": float(self.norm[3]),
                "max": float(self.norm[4]),
            },
            top_k=[dict(zip(TOP_DTYPE.names, r, strict=True)) for r in self.top.tolist()],
        )
        if per_dim:
            out["per_dim"] = {
                "mean": means.tolist(),
                "std": np.sqrt(self.m2 / n).tolist(),
                "min": self.minimum.tolist(),
                "max": self.maximum.tolist(),
                "mean_abs": (self.abs_sum / n).tolist(),
            }
        return out


class StreamingStats:
    """Streaming statistics of one hook point's ``(N, d)`` rows; see the module docstring."""

    def __init__(
        self, d: int, config: StatsConfig | None = None, *, keep_norms: bool = False
    ) -> None:
        if d < 1:
            raise InvalidInput(f"d must be >= 1, got {d}", details={"d": d})
        self.d = d
        self.config = config or StatsConfig()
        self.rows = 0  # rows seen, finite or not (row numbers in top-k count these)
        self.groups = {name: _Group(d) for name in GROUPS}
        self.keep_norms = keep_norms
        self._kept: list[NormChunk] = []

    def update(
        self,
        x: np.ndarray,
        *,
        token_ids: np.ndarray | None = None,
        sequence_index: np.ndarray | None = None,
        position: np.ndarray | None = None,
    ) -> np.ndarray:
        """Fold in rows ``x`` (n, d) of any float dtype; return their L2 norms (n,) float64.

        ``token_ids`` / ``sequence_index`` / ``position`` (each (n,)) are optional; without
        ``position`` no row counts as BOS. Non-finite rows get a NaN norm (see module docstring).
        """
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.d:
            raise InvalidInput(
                f"expected rows of shape (n, {self.d}), got {x.shape}; pass one hook point's rows",
                details={"expected_d": self.d, "shape": list(x.shape)},
            )
        n = x.shape[0]
        for what, values in (("token_ids", token_ids), ("sequence_index", sequence_index),
                             ("position", position)):
            if values is not None and np.shape(values) != (n,):
                raise InvalidInput(
                    f"{what} must hold one value per row ({n}), got shape {np.shape(values)}",
                    details={"what": what, "rows": n, "shape": list(np.shape(values))},
                )
        meta = _RowMeta(self.rows, sequence_index, position, token_ids)
        is_bos = self.config.bos_mask(token_ids, position, n)
        norms = self._fold(x, is_bos)
        finite = ~np.isnan(norms)
        for name, in_group in (("bos", is_bos), ("non_bos", ~is_bos)):
            rows = np.flatnonzero(in_group & finite)
            self.groups[name].add_norms(norms[rows], rows, meta, self.config)
        self.rows += n
        if self.keep_norms:
            self._kept.append((norms.copy(), is_bos.copy()))
        return norms

    def _fold(self, x: np.ndarray, is_bos: np.ndarray) -> np.ndarray:
        """Per-dimension and element figures of both groups in one compiled pass."""
        groups = [self.groups[name] for name in GROUPS]  # index = the kernel's group id
        count = np.array([g.count for g in groups], dtype=np.int64)
        arrays = {k: np.stack([getattr(g, k) for g in groups]) for k in _Group.PER_DIM}
        tallies = np.array([[getattr(g, k) for k in _Group.TALLIES] for g in groups], np.int64)
        norms = fold_rows(
            x, is_bos.astype(np.int8) * GROUPS.index("bos"), self.config.zero_threshold,
            count, arrays["mean"], arrays["m2"], arrays["shift"], arrays["minimum"],
            arrays["maximum"], arrays["abs_sum"], tallies,
        )
        for k, g in enumerate(groups):
            g.count = int(count[k])
            for key, stacked in arrays.items():
                setattr(g, key, stacked[k])
            for key, value in zip(_Group.TALLIES, tallies[k], strict=True):
                setattr(g, key, int(value))
        return norms

    def merge(self, other: StreamingStats) -> None:
        """Fold in ``other``, whose rows are taken to come after this one's rows."""
        if other.d != self.d or other.config != self.config:
            raise InvalidInput(
                "cannot merge statistics of different width or configuration",
                details={"d": [self.d, other.d]},
            )
        for name in GROUPS:
            self.groups[name].merge(other.groups[name], self.rows, self.config.top_k)
        self.rows += other.rows
        self._kept.extend(other._kept)

    def copy(self) -> StreamingStats:
        """An independent copy of the accumulators."""
        clone = StreamingStats.from_state_dict(self.state_dict(), self.config)
        clone.keep_norms = self.keep_norms
        clone._kept = list(self._kept)
        return clone

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every accumulator as arrays (e.g. for ``np.savez``); kept norms are not included."""
        state = {"d": np.asarray(self.d), "rows": np.asarray(self.rows)}
        for name, group in self.groups.items():
            state.update(group.state(f"{name}/"))
        return state

    @classmethod
    def from_state_dict(cls, state: dict[str, np.ndarray], config: StatsConfig) -> StreamingStats:
        stats = cls(int(state["d"]), config)
        stats.rows = int(state["rows"])
        for name, group in stats.groups.items():
            group.load(state, f"{name}/")
        return stats

    def finalize(self, norms: NormSource | None = None, *, per_dim: bool = True) -> dict[str, Any]:
        """JSON-serialisable summary. Quantiles and histograms need ``norms`` (a fresh pass per
        call) or ``keep_norms=True``; without either they are reported as ``None``."""
        if norms is None and self.keep_norms:
            kept = self._kept
            norms = lambda: iter(kept)  # noqa: E731
        merged = _Group(self.d)
        for name in GROUPS:
            merged.merge(self.groups[name], 0, self.config.top_k)
        reported = {"all": merged, **self.groups}
        out_groups = {name: g.summary(self.d, per_dim) for name, g in reported.items()}
        if norms is not None:
            ranges = {
                name: (g.count, float(g.norm[3]), float(g.norm[4])) for name, g in reported.items()
            }
            found = exact_quantiles(
                norms, ranges, self.config.quantiles, self.config.histogram_bins
            )
            for name, (quantiles, histogram) in found.items():
                out_groups[name]["norm"]["quantiles"] = quantiles
                out_groups[name]["norm"]["histogram"] = histogram
        return {
            "d": self.d,
            "rows": self.rows,
            "config": self.config.to_dict(),
            "nonfinite_rule": "rows with NaN/Inf are counted, then left out of every other figure",
            "std_ddof": 0,
            "groups": out_groups,
        }


_Moment = TypeVar("_Moment", float, np.ndarray)


def _chan_merge(
    n_a: int, mean_a: _Moment, m2_a: _Moment, n_b: int, mean_b: _Moment, m2_b: _Moment
) -> tuple[int, _Moment, _Moment]:
    """Chan et al. parallel merge of (count, mean, M2) of (d,) arrays or of floats (the norms: the
    same float64 arithmetic without numpy's per-call cost); exact, no sum of squares."""
    if n_b == 0:
        return n_a, mean_a, m2_a
    if n_a == 0:
        return n_b, +mean_b, +m2_b  # unary plus: a copy of an array
    n = n_a + n_b
    delta = mean_b - mean_a
    return n, mean_a + delta * (n_b / n), m2_a + m2_b + delta * delta * (n_a * n_b / n)


def _merge_norm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Merge scalar norm accumulators [count, mean - shift, M2, min, max, shift]; the result
    keeps ``a``'s shift (``b``'s where ``a`` is empty)."""
    if a[0] == 0:
        return b.copy()
    b_mean = float(b[1]) + (float(b[5]) - float(a[5])) if b[0] else float(b[1])
    n, mean, m2 = _chan_merge(int(a[0]), float(a[1]), float(a[2]), int(b[0]), b_mean,
                              float(b[2]))
    return np.array([n, mean, m2, min(a[3], b[3]), max(a[4], b[4]), a[5]])


class _RowMeta(NamedTuple):
    """Where a chunk's rows come from: its first row number and, per row (each (n,) or None),
    sequence, position and token id."""

    first_row: int
    sequence: np.ndarray | None
    position: np.ndarray | None
    token_id: np.ndarray | None

    def records(self, rows: np.ndarray, norms: np.ndarray) -> np.ndarray:
        """TOP_DTYPE records (n,) of the chunk's rows ``rows`` (n,) with their ``norms``."""
        out = np.empty(len(rows), dtype=TOP_DTYPE)
        out["norm"] = norms
        out["row"] = self.first_row + rows
        for field in ("sequence", "position", "token_id"):
            values = getattr(self, field)
            out[field] = -1 if values is None else np.asarray(values)[rows]
        return out


def _top_candidates(norms: np.ndarray, k: int) -> np.ndarray:
    """Indices (ascending) of every value of ``norms`` (n,) at least its k-th highest: a
    superset of its top k (every tie at the boundary is kept)."""
    if len(norms) <= k:
        return np.arange(len(norms))
    kth = np.partition(norms, len(norms) - k)[len(norms) - k]
    return np.flatnonzero(norms >= kth)


def _top_k(rows: np.ndarray, k: int) -> np.ndarray:
    """The k rows of highest norm, ties broken by row number; deterministic."""
    rows = rows[_top_candidates(rows["norm"], k)]
    order = np.lexsort((rows["row"], -rows["norm"]))
    return rows[order[:k]]
