"""``interpstudio export`` stopped by Ctrl-C (a real SIGINT to this process, sent once the
export has written a block of its own): it stops at the next block, exits 130 and leaves the
previous export as it was. Run in-process (typer's CliRunner, the main thread, where signals
land) so that small export blocks (``ml.export._BLOCK_BYTES``, a size) make many blocks."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import pytest

from extraction_world import ExtractionWorld
from helpers import wait_for
from interpstudio.core.settings import Settings
from interpstudio.db.models import FINISHED_STATES
from interpstudio.services import extractions as service
from interpstudio.services import jobs as job_service
from interpstudio.services.extraction_params import ExtractionSpec


def test_ctrl_c_stops_the_cli_export_cleanly_and_keeps_the_previous_export(
    world: ExtractionWorld, worker_thread: Callable[[Settings], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    datasets = pytest.importorskip("datasets")
    from typer.testing import CliRunner

    from interpstudio.cli import app

    spec = ExtractionSpec(model_id=world.model_id, tokenization_id=world.tokenization(repeat=40),
                          hook_points=["blocks.*.resid_post"], batch_size=4, device="cpu")
    with world.factory.begin() as session:
        row = service.create_extraction(session=session, settings=world.settings, spec=spec)
        extraction_id, job_id = row.id, row.job_id
    worker_thread(world.settings)

    def state() -> str:
        with world.factory() as session:
            return job_service.get_job(session=session, job_id=job_id).state  # type: ignore[arg-type]
    assert wait_for(lambda: (s := state()) in FINISHED_STATES and s, timeout=120) == "succeeded"
    monkeypatch.setenv("INTERPSTUDIO_DATA_DIR", str(world.settings.data_dir))
    monkeypatch.setenv("INTERPSTUDIO_DATABASE_URL", world.settings.resolved_database_url)
    runner = CliRunner()
    first = runner.invoke(app, ["export", str(extraction_id), "--context-size", "4", "--json"])
    assert first.exit_code == 0, first.output
    # the assembly after the last block is said (the bar sat at 100 % in silence), and that a
    # Ctrl-C cannot stop it
    assert "assembling the dataset (this last step cannot be stopped)..." in first.output
    folder = world.settings.data_dir / "extractions" / str(extraction_id)
    before = datasets.load_from_disk(str(folder / "saelens"))[:]

    monkeypatch.setattr("interpstudio.ml.export._BLOCK_BYTES", 1)  # one dataset row a block

    def interrupt_once_a_block_is_written() -> None:
        wait_for(lambda: any(folder.glob(".saelens.export-tmp-*/part_00001")), timeout=120)
        os.kill(os.getpid(), signal.SIGINT)

    sender = threading.Thread(target=interrupt_once_a_block_is_written, daemon=True)
    sender.start()
    stopped = runner.invoke(app, ["export", str(extraction_id), "--context-size", "2"])
    sender.join(10)
    assert stopped.exit_code == 130, stopped.output
    assert "export stopped: nothing was written" in " ".join(stopped.output.split())
    assert datasets.load_from_disk(str(folder / "saelens"))[:] == before
    assert not list(folder.glob(".saelens.export-tmp-*"))
