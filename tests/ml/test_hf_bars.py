"""``load_model`` draws none of transformers' own bars, and leaves them on for everyone else.

Found using the notebook API: ``load_model`` printed transformers' "Loading weights" bar (and, for
a GGUF, its "Converting and de-quantizing GGUF tensors" bar) in the cell above the
``LoadedModel`` it returns. The CLI turns Hugging Face's bars off for its whole process; a library
call must not: the user's own ``from_pretrained`` afterwards, or in another thread meanwhile,
still draws them (``ml/hf_bars.py``).

Real parts: a tiny llama checkpoint and its GGUF, transformers' own loading and tqdm on the
process's real stderr (``capfd``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM
from transformers.utils import logging as transformers_logging

from interpstudio.ml import hf_bars
from interpstudio.ml.loading import load_model
from tiny_gguf import write_tiny_gguf

GGUF_BAR = "Converting and de-quantizing GGUF tensors"


@pytest.fixture
def bars_on() -> Iterator[None]:
    """Transformers' bars on, as in a notebook (a test process may have them off)."""
    were_on = transformers_logging.is_progress_bar_enabled()
    transformers_logging.enable_progress_bar()
    yield
    if not were_on:
        transformers_logging.disable_progress_bar()


def test_load_model_draws_no_transformers_bar_and_later_loads_still_do(
    bars_on: None, tiny_llama_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    load_model(tiny_llama_dir, precision="fp32")
    assert "Loading weights" not in capfd.readouterr().err
    assert transformers_logging.is_progress_bar_enabled()  # not switched off for the process

    AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir))  # the user's own load, after
    assert "Loading weights" in capfd.readouterr().err


def test_load_model_of_a_gguf_draws_no_tensor_bar_and_later_loads_still_do(
    bars_on: None, tiny_llama_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    gguf = write_tiny_gguf(tiny_llama_dir, tmp_path / "tiny.gguf")
    capfd.readouterr()
    load_model(gguf, precision="fp32")
    said = capfd.readouterr().err
    assert GGUF_BAR not in said and "Loading weights" not in said

    AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file=gguf.name)
    assert GGUF_BAR in capfd.readouterr().err


def test_quiet_leaves_other_threads_bars_drawn(
    bars_on: None, capfd: pytest.CaptureFixture[str]
) -> None:
    def other() -> None:
        for _ in transformers_logging.tqdm(range(3), desc="another thread's bar"):
            pass

    with hf_bars.quiet():
        for _ in transformers_logging.tqdm(range(3), desc="this thread's bar"):
            pass
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    said = capfd.readouterr().err
    assert "another thread's bar" in said and "this thread's bar" not in said
