"""Streaming statistics equal a plain numpy float64 recompute (relative error <= 1e-9)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from interpstudio.core.errors import InvalidInput
from interpstudio.ml import stats_quantiles
from interpstudio.ml.stats import StatsConfig, StreamingStats
from interpstudio.ml.store import decode, encode_bfloat16

RTOL = 1e-9


def stored(values: np.ndarray, dtype: str) -> np.ndarray:
    """``values`` as they come back from a store of ``dtype`` (bfloat16 decoded to float32)."""
    if dtype == "bfloat16":
        return decode(encode_bfloat16(values), "bfloat16")
    return values.astype(dtype)


def make_rows(rng: np.random.Generator, n_seq: int, d: int, scale: float = 1.0) -> dict[str, Any]:
    lengths = rng.integers(3, 30, size=n_seq)
    n = int(lengths.sum())
    offset = rng.uniform(-2, 2, size=d)  # keeps per-dim means away from 0: relative checks bite
    x = (rng.standard_normal((n, d)) * rng.uniform(0.5, 3, size=d) + offset) * scale
    return {
        "x": x,
        "sequence_index": np.repeat(np.arange(n_seq), lengths),
        "position": np.concatenate([np.arange(k) for k in lengths]),
        "token_ids": rng.integers(0, 1000, size=n),
    }


def feed(stats: StreamingStats, x: np.ndarray, rows: dict[str, Any], batch: int = 97) -> np.ndarray:
    norms = []
    for a in range(0, len(x), batch):
        b = a + batch
        norms.append(
            stats.update(
                x[a:b],
                token_ids=rows["token_ids"][a:b],
                sequence_index=rows["sequence_index"][a:b],
                position=rows["position"][a:b],
            )
        )
    return np.concatenate(norms)


def expected_group(x64: np.ndarray, rows_in_group: np.ndarray, threshold: float) -> dict[str, Any]:
    """The reference: plain numpy float64 over the finite rows of the group."""
    finite = np.isfinite(x64).all(axis=1)
    g = x64[rows_in_group & finite]
    norms = np.linalg.norm(g, axis=1)
    return {
        "count": len(g),
        "mean": g.mean(),
        "std": g.std(),
        "min": g.min(),
        "max": g.max(),
        "mean_abs": np.abs(g).mean(),
        "fraction_below_threshold": np.mean(np.abs(g) < threshold),
        "per_dim": {
            "mean": g.mean(0),
            "std": g.std(0),
            "min": g.min(0),
            "max": g.max(0),
            "mean_abs": np.abs(g).mean(0),
        },
        "norms": norms,
        "nan_count": int(np.isnan(x64[rows_in_group]).sum()),
        "inf_count": int(np.isinf(x64[rows_in_group]).sum()),
    }


def assert_group_matches(
    got: dict[str, Any], want: dict[str, Any], quantiles: list[float], got_norms: np.ndarray
) -> None:
    assert got["count"] == want["count"]
    assert got["nan_count"] == want["nan_count"]
    assert got["inf_count"] == want["inf_count"]
    for key in ("mean", "std", "min", "max", "mean_abs", "fraction_below_threshold"):
        np.testing.assert_allclose(got[key], want[key], rtol=RTOL, atol=0, err_msg=key)
    for key, values in want["per_dim"].items():
        np.testing.assert_allclose(got["per_dim"][key], values, rtol=RTOL, atol=0, err_msg=key)
    norms = want["norms"]
    norm = got["norm"]
    for key, value in (
        ("mean", norms.mean()),
        ("std", got_norms.std()),  # of the norms kept: one recomputed may differ in its last
        # bit, which moves the std of norms that agree to their 12th digit (a massive dimension)
        ("min", norms.min()),
        ("max", norms.max()),
    ):
        np.testing.assert_allclose(norm[key], value, rtol=RTOL, atol=0, err_msg=f"norm {key}")
    for q in quantiles:
        np.testing.assert_allclose(
            norm["quantiles"][repr(q)],
            np.quantile(norms, q),
            rtol=RTOL,
            atol=0,
            err_msg=f"quantile {q}",
        )
    # binned from the norms the stats computed (a recomputed norm may differ in the last ulp)
    counts, _ = np.histogram(got_norms, bins=np.asarray(norm["histogram"]["edges"]))
    assert norm["histogram"]["counts"] == counts.tolist()


def assert_all_groups_match(
    out: dict[str, Any], x: np.ndarray, position: np.ndarray, norms: np.ndarray, threshold: float
) -> None:
    """Every reported group (all / non_bos / bos) equals the float64 recompute."""
    x64 = x.astype(np.float64)
    finite = np.isfinite(x64).all(axis=1)
    bos = position == 0
    qs = list(out["config"]["quantiles"])
    for name, in_group in (("all", np.ones(len(x), bool)), ("non_bos", ~bos), ("bos", bos)):
        want = expected_group(x64, in_group, threshold)
        assert_group_matches(out["groups"][name], want, qs, norms[in_group & finite])


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_stats_match_float64_recompute_per_storage_dtype(dtype: str) -> None:
    rng = np.random.default_rng(1)
    rows = make_rows(rng, n_seq=60, d=40)
    x = stored(rows["x"], dtype)
    config = StatsConfig(zero_threshold=0.05, top_k=5)
    stats = StreamingStats(40, config, keep_norms=True)
    norms = feed(stats, x, rows)
    out = stats.finalize()
    json.dumps(out, allow_nan=False)  # JSON-serialisable as stored in stats.json

    x64 = x.astype(np.float64)
    np.testing.assert_allclose(norms, np.linalg.norm(x64, axis=1), rtol=RTOL, atol=0)
    assert_all_groups_match(out, x, rows["position"], norms, 0.05)


def test_stats_large_float16_values_do_not_overflow() -> None:
    rng = np.random.default_rng(2)
    rows = make_rows(rng, n_seq=40, d=32)
    x = rng.uniform(2e4, 6e4, size=rows["x"].shape) * rng.choice([-1, 1], size=(1, 32))
    x = x.astype(np.float16)  # the sum of squares of even one row is far beyond 65504
    assert np.isfinite(x).all()
    stats = StreamingStats(32, keep_norms=True)
    norms = feed(stats, x, rows)
    out = stats.finalize()
    assert_all_groups_match(out, x, rows["position"], norms, 1e-6)
    assert out["groups"]["all"]["std"] > 1e4


@pytest.mark.parametrize("batch", [1, 3, 8])
@pytest.mark.parametrize("case", ["close_rows", "massive_dimension"])
def test_stats_of_values_far_from_zero_and_close_together_match_numpy(
        case: str, batch: int) -> None:
    """Moments of values far from zero and close together: first-position rows are one row
    computed again per batch (equal up to float noise: ``close_rows``, values ~1e3 that differ
    in their 9th digit), and a massive activation (40,000 in one dimension, as fp16 holds it)
    makes every norm 40,000 plus a few millionths (``massive_dimension``). The merge of batch
    moments took each batch's mean to ~1e-12 (an ulp of the values) and the square of the
    difference of two such means into M2: std per dimension and of the norms were off by up to
    ~1e-5 relative where numpy's two passes are right to ~1e-12. Moments are now kept about a
    fixed shift near the data (the group's first finite row, its first norm)."""
    rng = np.random.default_rng(12)
    n, d = 240, 16
    if case == "close_rows":
        offset = rng.uniform(-3000, 3000, size=d)
        x = offset + offset * 1e-9 * rng.standard_normal((n, d))  # (n, d)
    else:
        x = rng.standard_normal((n, d)) * 0.1
        x[:, 0] = 40_000.0
    rows = {"position": np.where(np.arange(n) % 4 == 0, 0, 5),  # a quarter are first positions
            "sequence_index": np.arange(n), "token_ids": np.full(n, 9)}
    stats = StreamingStats(d, keep_norms=True)
    norms = feed(stats, x, rows, batch=batch)
    assert_all_groups_match(stats.finalize(), x, rows["position"], norms, 1e-6)


def test_stats_min_max_are_signed_not_absolute() -> None:
    x = -np.abs(np.random.default_rng(3).standard_normal((50, 8))) - 1.0  # all negative
    stats = StreamingStats(8)
    stats.update(x)
    group = stats.finalize()["groups"]["all"]
    assert group["max"] == x.max() < 0
    assert group["min"] == x.min()
    assert group["per_dim"]["max"] == x.max(axis=0).tolist()


def test_stats_nonfinite_rows_counted_and_left_out() -> None:
    rng = np.random.default_rng(4)
    rows = make_rows(rng, n_seq=20, d=16)
    x = rows["x"].astype(np.float32)
    x[5, 3] = np.nan
    x[7, :2] = np.nan
    x[11, 0] = np.inf
    x[12, 4] = -np.inf
    stats = StreamingStats(16, keep_norms=True)
    norms = feed(stats, x, rows, batch=10)
    out = stats.finalize()
    assert np.isnan(norms[[5, 7, 11, 12]]).all()
    group = out["groups"]["all"]
    assert (group["nan_count"], group["inf_count"], group["nonfinite_rows"]) == (3, 2, 4)
    assert group["count"] == len(x) - 4
    assert_all_groups_match(out, x, rows["position"], norms, 1e-6)


def test_stats_bos_rows_kept_apart_from_the_rest() -> None:
    rng = np.random.default_rng(5)
    rows = make_rows(rng, n_seq=30, d=16)
    x = rows["x"].copy()
    bos = rows["position"] == 0
    x[bos] *= 1000.0  # an attention-sink outlier on every first token
    stats = StreamingStats(16, StatsConfig(top_k=3), keep_norms=True)
    feed(stats, x, rows)
    groups = stats.finalize()["groups"]
    assert groups["bos"]["count"] == 30
    assert groups["non_bos"]["count"] == int((~bos).sum())
    np.testing.assert_allclose(groups["non_bos"]["max"], x[~bos].max(), rtol=RTOL)
    assert groups["non_bos"]["norm"]["max"] < groups["bos"]["norm"]["min"]
    assert all(row["position"] == 0 for row in groups["all"]["top_k"])
    assert all(row["position"] != 0 for row in groups["non_bos"]["top_k"])


def test_stats_bos_token_id_marks_bos_rows_anywhere() -> None:
    token_ids = np.array([7, 1, 2, 7, 3])
    stats = StreamingStats(2, StatsConfig(bos_token_id=7))
    stats.update(np.ones((5, 2)), token_ids=token_ids, position=np.array([0, 1, 2, 3, 4]))
    groups = stats.finalize()["groups"]
    assert (groups["bos"]["count"], groups["non_bos"]["count"]) == (2, 3)


def test_top_k_lists_highest_norm_rows_with_their_tokens() -> None:
    rng = np.random.default_rng(6)
    rows = make_rows(rng, n_seq=25, d=12)
    x = rows["x"]
    stats = StreamingStats(12, StatsConfig(top_k=7))
    feed(stats, x, rows, batch=13)
    top = stats.finalize()["groups"]["non_bos"]["top_k"]
    norms = np.linalg.norm(x, axis=1)
    candidates = np.flatnonzero(rows["position"] != 0)
    want = candidates[np.argsort(-norms[candidates], kind="stable")[:7]]
    assert [t["row"] for t in top] == want.tolist()
    for t, row in zip(top, want, strict=True):
        assert t["sequence"] == rows["sequence_index"][row]
        assert t["position"] == rows["position"][row]
        assert t["token_id"] == rows["token_ids"][row]
        np.testing.assert_allclose(t["norm"], norms[row], rtol=RTOL)


def test_top_k_across_updates_keeps_ties_by_row_number() -> None:
    """Rows of a later update enter a full top k only above its lowest norm: norms from a few
    levels that rise along the rows (ties everywhere, also with the lowest kept one, and later
    rows between the lowest and the highest kept) in many small updates give the rows a stable
    sort of all norms gives, the earliest of equal norms first."""
    rng = np.random.default_rng(15)
    n, k = 400, 9
    scale = rng.choice([1.0, 1.125, 2.0], size=n) + np.arange(n) // 100
    x = np.ones((n, 4)) * scale[:, None]
    position = np.where(rng.random(n) < 0.1, 0, 1)
    stats = StreamingStats(4, StatsConfig(top_k=k))
    for a in range(0, n, 7):
        stats.update(x[a : a + 7], position=position[a : a + 7])
    groups = stats.finalize()["groups"]
    norms = np.linalg.norm(x, axis=1)
    for name, rows in (("all", np.arange(n)), ("bos", np.flatnonzero(position == 0)),
                       ("non_bos", np.flatnonzero(position != 0))):
        want = rows[np.argsort(-norms[rows], kind="stable")[:k]]
        assert [t["row"] for t in groups[name]["top_k"]] == want.tolist(), name


def test_merge_equals_one_pass_over_both() -> None:
    rng = np.random.default_rng(7)
    rows = make_rows(rng, n_seq=40, d=10)
    x = rows["x"]
    half = len(x) // 2
    first_rows = {k: v[:half] for k, v in rows.items()}
    second_rows = {k: v[half:] for k, v in rows.items()}
    whole, first, second = (StreamingStats(10, keep_norms=True) for _ in range(3))
    feed(whole, x, rows)
    feed(first, x[:half], first_rows)
    feed(second, x[half:], second_rows)
    first.merge(second)
    a, b = whole.finalize()["groups"]["all"], first.finalize()["groups"]["all"]
    for key in ("mean", "std", "min", "max", "mean_abs"):
        np.testing.assert_allclose(a[key], b[key], rtol=1e-12)
    np.testing.assert_allclose(a["per_dim"]["std"], b["per_dim"]["std"], rtol=1e-12)
    assert a["top_k"] == b["top_k"]
    assert a["norm"]["quantiles"] == b["norm"]["quantiles"]


def test_state_dict_round_trip_restores_every_accumulator() -> None:
    rng = np.random.default_rng(8)
    rows = make_rows(rng, n_seq=10, d=6)
    config = StatsConfig(top_k=4)
    stats = StreamingStats(6, config)
    feed(stats, rows["x"], rows)
    restored = StreamingStats.from_state_dict(stats.state_dict(), config)
    assert restored.finalize() == stats.finalize()


def test_a_state_saved_before_moments_were_shifted_still_loads_and_resumes() -> None:
    """A store's ``stats/state_*.npz`` written before the shift (means of the values themselves,
    five norm accumulators) resumes: read as shift 0, it gives the same figures."""
    rng = np.random.default_rng(9)
    rows = make_rows(rng, n_seq=12, d=6)
    half = len(rows["x"]) // 2
    first = {k: v[:half] for k, v in rows.items()}
    stats = StreamingStats(6, keep_norms=True)
    feed(stats, rows["x"][:half], first)
    old = stats.state_dict()
    for group in ("non_bos", "bos"):
        old[f"{group}/mean"] = old.pop(f"{group}/shift") + old[f"{group}/mean"]
        norm = old[f"{group}/norm"]
        old[f"{group}/norm"] = np.array([norm[0], norm[5] + norm[1], *norm[2:5]])
    resumed = StreamingStats.from_state_dict(old, stats.config)
    resumed.keep_norms, resumed._kept = True, list(stats._kept)
    second = {k: v[half:] for k, v in rows.items()}
    norms = np.concatenate([*(n for n, _ in stats._kept), feed(resumed, rows["x"][half:], second)])
    assert_all_groups_match(resumed.finalize(), rows["x"], rows["position"], norms, 1e-6)


@pytest.mark.parametrize("path", ["refinement", "in_memory"])
def test_exact_quantiles_with_ties_and_refinement(
    monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    # tiny bins and collection limits force the refinement path, and many exact ties plus two
    # adjacent floats force the "cannot narrow further" path; both paths give numpy's figures
    if path == "refinement":
        monkeypatch.setattr(stats_quantiles, "_IN_MEMORY_LIMIT", 0)
        monkeypatch.setattr(stats_quantiles, "_SELECT_BINS", 4)
        monkeypatch.setattr(stats_quantiles, "_SELECT_COLLECT_LIMIT", 8)
    rng = np.random.default_rng(9)
    one_up = np.nextafter(1.0, 2.0)
    values = np.concatenate(
        [np.full(300, 1.0), np.full(200, one_up), rng.uniform(0, 5, 500), np.full(50, 5.0)]
    )
    rng.shuffle(values)
    is_bos = rng.random(len(values)) < 0.1
    chunks = [(values[a : a + 64], is_bos[a : a + 64]) for a in range(0, len(values), 64)]
    qs = [0.0, 0.1, 0.3, 0.31, 0.5, 0.77, 0.999, 1.0]
    ranges = {
        "all": (len(values), values.min(), values.max()),
        "bos": (int(is_bos.sum()), values[is_bos].min(), values[is_bos].max()),
        "non_bos": (0, np.inf, -np.inf),
    }
    found = stats_quantiles.exact_quantiles(lambda: iter(chunks), ranges, qs, histogram_bins=5)
    edges = np.linspace(values.min(), values.max(), 6)
    assert found["all"][1] == {"edges": edges.tolist(),
                               "counts": np.histogram(values, edges)[0].tolist()}
    for q in qs:
        assert found["all"][0][repr(q)] == np.quantile(values, q)
        assert found["bos"][0][repr(q)] == np.quantile(values[is_bos], q)
    assert found["non_bos"] == (None, None)


def test_stats_without_norm_source_omit_quantiles() -> None:
    stats = StreamingStats(3)
    stats.update(np.ones((4, 3)))
    norm = stats.finalize()["groups"]["all"]["norm"]
    assert "quantiles" not in norm
    assert norm["mean"] == pytest.approx(np.sqrt(3))


def test_float16_decoder_decodes_every_bit_pattern_exactly() -> None:
    """The compiled pass's arithmetic decoder against numpy's float16 -> float64 cast: every
    finite value bit for bit (subnormals, -0.0, +-65504), both infinities, every NaN a NaN."""
    from interpstudio.ml.stats_kernel import _decode_bits

    bits = np.arange(1 << 16, dtype=np.uint16).reshape(256, 256)
    decoded = np.empty(bits.shape, np.float64)
    _decode_bits(bits, 0, len(bits), decoded)
    expected = bits.view(np.float16).astype(np.float64)
    nan = np.isnan(expected)
    assert np.array_equal(np.isnan(decoded), nan) and nan.sum() == 2046
    np.testing.assert_array_equal(decoded.view(np.uint64)[~nan], expected.view(np.uint64)[~nan])


def test_float16_portable_decoder_decodes_every_bit_pattern_exactly() -> None:
    """The arithmetic decoder that a target without hardware float16 conversion compiles (this
    host may use F16C instead, so it is checked here on its own): every bit pattern as numpy
    decodes it, NaN as NaN."""
    import numba

    from interpstudio.ml.stats_kernel import _half_to_double_portable

    @numba.njit
    def decode(bits: np.ndarray, out: np.ndarray) -> None:
        for i in range(bits.shape[0]):
            out[i] = _half_to_double_portable(bits[i])

    bits = np.arange(1 << 16, dtype=np.uint16)
    decoded = np.empty(bits.shape, np.float64)
    decode(bits, decoded)
    expected = bits.view(np.float16).astype(np.float64)
    nan = np.isnan(expected)
    assert np.array_equal(np.isnan(decoded), nan)
    np.testing.assert_array_equal(decoded.view(np.uint64)[~nan], expected.view(np.uint64)[~nan])


def test_stats_every_finite_float16_value_and_one_row_blocks() -> None:
    """Every finite float16 (subnormals, -0.0, +-65504) through the compiled pass, as rows wide
    enough that a block holds one row; and the same values as narrow rows (many rows a block)."""
    bits = np.arange(1 << 16, dtype=np.uint16)
    values = bits.view(np.float16)
    # every finite value but the large negative ones (a symmetric set would have a mean of 0,
    # where a relative check cannot bite): 57,344 values
    kept = values[np.isfinite(values) & (values > -1024)]
    for d in (len(kept) // 2, 56):  # 2 rows (one row a block) / 1,024 rows of 56
        x = kept.reshape(-1, d)
        rows = {"position": np.arange(len(x)) % 5, "token_ids": np.zeros(len(x), np.int64),
                "sequence_index": np.arange(len(x)) // 5}
        stats = StreamingStats(d, keep_norms=True)
        norms = feed(stats, x, rows, batch=3 if d > 56 else 500)
        assert_all_groups_match(stats.finalize(), x.astype(np.float64), rows["position"], norms,
                                1e-6)


def test_compiled_pass_is_cached_across_processes() -> None:
    """A new process (a job's worker) loads the compiled pass from numba's disk cache instead of
    compiling it again (it did, ~2 s, while the decoder was a function argument)."""
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from interpstudio.ml import stats_kernel as k\n"
        "from interpstudio.ml.stats import StreamingStats\n"
        "for dtype in (np.float16, np.float32):\n"
        "    StreamingStats(8).update(np.ones((4, 8), dtype))\n"
        "from interpstudio.ml.stats_kernel import bin_counts, order_statistics\n"
        "bin_counts(np.ones(4), np.linspace(0.0, 2.0, 5))\n"
        "order_statistics(np.ones(4), np.zeros(1, np.int64))\n"
        "print(sum(sum(f.stats.cache_misses.values())\n"
        "          for f in (k._fold, k._bin_counts, k._order_statistics)))\n"
    )
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, timeout=300) for _ in range(2)]
    assert runs[1].stdout.strip() == "0", runs[1].stdout + runs[1].stderr


def test_the_statistics_pass_compiles_ahead_for_the_stores_dtypes() -> None:
    """``make setup`` compiles it once per install (a first extraction stalled at its first shard
    while numba compiled); float16, bfloat16 (decoded to float32) and float32 rows all use the
    signature it compiles, and so does the summary's histogram and selection: no run compiles
    again."""
    from interpstudio.ml import stats_kernel

    stats_kernel.compile_ahead()
    kernels = (stats_kernel._fold, stats_kernel._bin_counts, stats_kernel._order_statistics)
    compiled = [set(k.signatures) for k in kernels]
    for dtype in (np.float16, np.float32):
        stats = StreamingStats(8, keep_norms=True)
        stats.update(np.ones((3, 8), dtype), position=np.arange(3))
        stats.finalize()  # the summary's histogram and quantiles
    assert [set(k.signatures) for k in kernels] == compiled


def test_refinement_quantiles_equal_numpy_bit_for_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The refinement path (stores past ``_IN_MEMORY_LIMIT`` norms) interpolates as numpy does:
    it took a + (b - a) * g for every g, where numpy takes b - (b - a) * (1 - g) from g = 0.5,
    and missed numpy's figure in its last bit for ~0.4% of quantiles."""
    monkeypatch.setattr(stats_quantiles, "_IN_MEMORY_LIMIT", 0)
    rng = np.random.default_rng(12)
    for _ in range(60):
        n = int(rng.integers(1, 3000))
        values = rng.standard_normal(n) ** 2 * 7
        qs = [*rng.random(20).tolist(), 0.0, 0.5, 0.75, 0.999, 1.0]
        found = stats_quantiles.exact_quantiles(
            lambda v=values: iter([(v, np.zeros(len(v), bool))]),
            {"all": (n, values.min(), values.max())}, qs, 8)
        quantiles = found["all"][0]
        assert quantiles is not None
        for q in qs:
            assert quantiles[repr(q)] == np.quantile(values, q), (n, q)


def test_in_memory_quantiles_equal_numpy_bit_for_bit() -> None:
    """The compiled selection plus numpy's interpolation give ``np.quantile``'s figures exactly:
    outliers far above the bulk (BOS rows), heavy ties, two adjacent floats, a single value."""
    rng = np.random.default_rng(13)
    one_up = np.nextafter(1.0, 2.0)
    cases = [
        np.r_[np.sqrt(rng.chisquare(576, 4000)), rng.uniform(1e3, 2e3, 30)],
        np.r_[np.full(300, 1.0), np.full(200, one_up), rng.uniform(0, 5, 100)],
        rng.integers(0, 3, 999).astype(np.float64),
        np.array([7.0]),
        np.array([0.0, 5e-324, 1e308, 2.5]),
        rng.standard_normal(2049) * 1e-3,
    ]
    qs = [0.0, 0.001, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999, 1.0,
          *rng.random(30).tolist()]
    for values in cases:
        rng.shuffle(values)
        chunks = [(values[a : a + 97], np.zeros(len(values[a : a + 97]), bool))
                  for a in range(0, len(values), 97)]
        ranges = {"all": (len(values), values.min(), values.max())}
        found = stats_quantiles.exact_quantiles(lambda c=chunks: iter(c), ranges, qs, 16)["all"]
        assert found[0] == {repr(q): float(np.quantile(values, q)) for q in qs}
        edges = np.linspace(values.min(), values.max(), 17)
        assert found[1] == {"edges": edges.tolist(),
                            "counts": np.histogram(values, edges)[0].tolist()}


def test_bin_counts_follow_the_edges_exactly() -> None:
    """The compiled histogram puts each value where ``searchsorted`` on the edges does (clipped
    to the bins), also on the edges themselves, in a range only a few floats wide (linspace
    repeats edges there), in an empty range and in one of a subnormal width."""
    from interpstudio.ml.stats_kernel import bin_counts

    rng = np.random.default_rng(14)
    lo = 3.0
    narrow = lo + np.arange(4) * np.spacing(lo)
    wide = np.linspace(0.5, 9.5, 65)
    cases = [
        (rng.uniform(0.5, 9.5, 5000), wide),
        (np.r_[wide, wide, rng.uniform(0.5, 9.5, 50)], wide),  # every edge itself
        (rng.choice(narrow, 500), np.linspace(narrow[0], narrow[-1], 65)),
        (np.full(10, 2.0), np.linspace(2.0, 2.0, 9)),
        (np.array([0.0, 5e-324, 0.0]), np.linspace(0.0, 5e-324, 65)),  # bins / width is inf
    ]
    for values, edges in cases:
        expected = np.bincount(
            np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2),
            minlength=len(edges) - 1)
        assert bin_counts(values, edges).tolist() == expected.tolist()


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid:RuntimeWarning")
def test_group_whose_norms_all_overflow_has_no_quantiles() -> None:
    """float64 rows with finite values whose squares overflow have an Inf norm, which the
    quantiles leave out: a group of only such rows has none (the summary raised IndexError
    from ``np.quantile`` of nothing), a group with some has them over the rest."""
    stats = StreamingStats(2, keep_norms=True)
    x = np.array([[1e200, 1e200], [3.0, 4.0], [3e200, 1.0], [6.0, 8.0]])
    stats.update(x, position=np.array([0, 1, 0, 1]))
    groups = stats.finalize()["groups"]
    assert groups["bos"]["count"] == 2
    assert groups["bos"]["norm"]["quantiles"] is None
    assert groups["non_bos"]["norm"]["quantiles"]["0.5"] == 7.5
    assert groups["all"]["norm"]["quantiles"]["1.0"] == 10.0


def test_order_statistics_refuses_ranks_outside_the_values() -> None:
    """A rank past the values would read outside them in compiled code: refused instead."""
    from interpstudio.ml.stats_kernel import order_statistics

    with pytest.raises(IndexError):
        order_statistics(np.ones(3), np.array([1, 3]))
    with pytest.raises(IndexError):
        order_statistics(np.empty(0), np.array([0]))


@pytest.mark.parametrize("what", ["token_ids", "sequence_index", "position"])
def test_per_row_arrays_of_another_length_are_refused(what: str) -> None:
    """Each of token_ids / sequence_index / position holds one value per row: one of another
    length is refused by name (the top-k records came to be indexed by row, so a wrong
    ``token_ids`` or ``sequence_index`` length stopped raising on its own)."""
    stats = StreamingStats(4, StatsConfig(top_k=2))
    x = np.ones((5, 4), np.float32)
    good = {"token_ids": np.arange(5), "sequence_index": np.zeros(5, np.int64),
            "position": np.arange(5)}
    with pytest.raises(InvalidInput, match=what):
        stats.update(x, **{**good, what: np.arange(6)})
    assert stats.rows == 0
    stats.update(x, **good)
    assert stats.rows == 5
