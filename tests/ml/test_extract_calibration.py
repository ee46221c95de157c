"""The preflight's calibration times the largest batch several times and projects from the
median pass: one pass of a busy machine projected a 1.6 s run of a tiny model at 47.7 s."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from extract_helpers import random_sequences, write_tokenization
from tiny_models import tiny_causal_lm

from interpstudio.ml import extract_preflight, preflight
from interpstudio.ml.extract_engine import ExtractionSession

POINTS = ["blocks.*.resid_post"]
HICCUP_S = 0.25


@pytest.fixture
def passes_begun(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """``{"n": ...}``: the passes ``ExtractionSession.compute`` has begun (the real method,
    counted)."""
    begun = {"n": 0}
    compute = ExtractionSession.compute

    def counted(self: ExtractionSession, *args: Any, **kwargs: Any) -> Any:
        begun["n"] += 1
        return compute(self, *args, **kwargs)

    monkeypatch.setattr(ExtractionSession, "compute", counted)
    return begun


def test_one_slow_pass_does_not_set_the_projection(
    tmp_path: Path, passes_begun: dict[str, int]
) -> None:
    tokens = write_tokenization(tmp_path / "tok", random_sequences(8, low=8, high=12, seed=3))
    model = tiny_causal_lm("llama")

    def hiccup(_module: Any, _args: Any) -> None:
        """The machine took the core away for HICCUP_S in the first timed pass (pass 1 is the
        warm-up): a real sleep in the forward, not a timing stub."""
        if passes_begun["n"] == 2:
            time.sleep(HICCUP_S)

    handle = model.model.layers[0].register_forward_pre_hook(hiccup)
    try:
        report = preflight(model, tokens, POINTS, out_dir=tmp_path / "s", batch_size=4,
                           measure_disk=False)
    finally:
        handle.remove()
    calibration = report.calibration
    assert calibration is not None
    passes = calibration["pass_seconds"]
    assert len(passes) >= 3 and passes[0] >= HICCUP_S  # the slow pass was timed, among others
    assert calibration["seconds"] == pytest.approx(float(np.median(passes)))
    assert calibration["tokens_per_s"] == pytest.approx(
        calibration["tokens"] / calibration["seconds"])
    assert report.projected["compute_s"] == pytest.approx(
        report.plan["tokens"] * (calibration["seconds"] + calibration["writer_s"])
        / calibration["tokens"])


def test_a_pass_longer_than_the_budget_is_timed_once(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A large model's batch (seconds each) is timed once, as before: the passes stop at the
    budget."""
    monkeypatch.setattr(extract_preflight, "CALIBRATION_BUDGET_S", 0.0)
    tokens = write_tokenization(tmp_path / "tok", random_sequences(8, low=8, high=12, seed=3))
    report = preflight(tiny_causal_lm("llama"), tokens, POINTS, out_dir=tmp_path / "s",
                       batch_size=4, measure_disk=False)
    assert report.calibration is not None
    assert len(report.calibration["pass_seconds"]) == 1


def test_on_the_cpu_a_long_warm_up_is_the_timed_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, passes_begun: dict[str, int]
) -> None:
    """A batch that takes seconds on the CPU was computed twice before the preflight answered
    (warm-up, then the timed pass: 2 x 15 s for the demo's SmolLM2 batch on 2 cores); a warm-up
    of ``LONG_PASS_S`` or more is now the one timed pass (0 here: every warm-up is long)."""
    monkeypatch.setattr(extract_preflight, "LONG_PASS_S", 0.0)
    tokens = write_tokenization(tmp_path / "tok", random_sequences(8, low=8, high=12, seed=3))
    report = preflight(tiny_causal_lm("llama"), tokens, POINTS, out_dir=tmp_path / "s",
                       batch_size=4, measure_disk=False)
    assert passes_begun["n"] == 1
    assert report.calibration is not None and len(report.calibration["pass_seconds"]) == 1
    assert report.calibration["writer_s"] > 0  # timed on that pass's rows
