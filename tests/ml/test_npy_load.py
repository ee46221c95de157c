"""np.load from several threads at once (CPython 3.11's AST constructor is not thread-safe)."""

from __future__ import annotations

import ast
import concurrent.futures
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from interpstudio.ml.npy_load import load_npy, load_npz
from interpstudio.ml.stats import StatsConfig
from interpstudio.ml.store import read_manifest
from interpstudio.ml.store_stats import store_statistics
from interpstudio.ml.store_writer import ActivationBatch, ActivationWriter


class OverlapDetector:
    """Wraps ``ast.literal_eval`` (numpy parses .npy headers with it) and records whether two
    threads were ever inside it at once. The real failure (SystemError 'AST constructor recursion
    depth mismatch') needs a thread switch inside the C parser, which a test cannot force; a
    parse that lingers makes an unguarded overlap certain instead."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.inside = 0
        self.overlaps = 0
        self.lock = threading.Lock()

    def __call__(self, text: Any) -> Any:
        with self.lock:
            self.inside += 1
            self.overlaps += self.inside > 1
        try:
            time.sleep(0.002)
            return self.real(text)
        finally:
            with self.lock:
                self.inside -= 1


@pytest.fixture
def detector(monkeypatch: pytest.MonkeyPatch) -> OverlapDetector:
    found = OverlapDetector(ast.literal_eval)
    monkeypatch.setattr(ast, "literal_eval", found)
    return found


def test_loads_from_many_threads_never_parse_at_once(
    tmp_path: Path, detector: OverlapDetector
) -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "a.npy", array)
    np.savez(tmp_path / "b.npz", x=array, y=array[0])
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        loaded = list(pool.map(lambda _: load_npy(tmp_path / "a.npy"), range(32)))
        archives = list(pool.map(lambda _: load_npz(tmp_path / "b.npz"), range(8)))
    assert all(np.array_equal(x, array) for x in loaded)
    assert all(np.array_equal(z["y"], array[0]) for z in archives)
    assert detector.overlaps == 0


def test_store_statistics_on_a_pool_parse_headers_one_at_a_time(
    tmp_path: Path, detector: OverlapDetector
) -> None:
    """The path that failed: stats.json finalized with the hook points on a thread pool."""
    hooks = {f"h{i}": 8 for i in range(6)}
    store = tmp_path / "store"
    rng = np.random.default_rng(0)
    with ActivationWriter.open(store, {"t": 1}, hooks=hooks, shard_rows=16,
                               stats_config=StatsConfig()) as writer:
        ids = np.arange(64)
        writer.append(ActivationBatch({h: rng.standard_normal((64, 8)) for h in hooks},
                                      ids, np.zeros(64, np.int64), ids))
    manifest = read_manifest(store)
    stats = dict(writer.stats)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        summary = store_statistics(store, manifest, stats, pool.map)
    assert summary["hooks"]["h0"]["groups"]["all"]["count"] == 64
    assert detector.overlaps == 0
