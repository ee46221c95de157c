"""The status a model is shown with when its task could not write it: its job's final state,
and a pause (which ends the job as ``cancelled``) shown as ``paused``; the list's status filter
by that same status; a pause request that ends with the run it paused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from helpers import wait_for
from hub_server import HubServer
from interpstudio.core.settings import Settings
from interpstudio.db.models import Job, Model
from interpstudio.db.session import make_engine, make_session_factory
from interpstudio.services.models import effective_status

API = "/api/v1/models"


def test_a_paused_model_whose_row_was_not_written_yet_shows_paused() -> None:
    """`models cancel --pause` of a running download printed `cancelled` when it read the job's
    final state before the task had written the row (findings F12)."""
    job = Job(kind="model_download", params={}, state="cancelled")
    paused = Model(key="k", name="m", source="hub", status="downloading",
                   info={"pause_requested": True})
    cancelled = Model(key="k2", name="m2", source="hub", status="downloading", info={})
    assert effective_status(paused, job) == "paused"
    assert effective_status(cancelled, job) == "cancelled"


def test_a_pause_does_not_outlive_a_resume_from_the_jobs_page(
        hub_client: TestClient, hub_settings: Settings, hub: HubServer, big_repo: str,
        worker_thread, wait_model: Callable[..., dict]) -> None:
    """Resumed through ``/jobs/{id}/resume`` (the Jobs page), a paused download kept its pause
    request: a later cancel there ended it ``paused``, its partial files kept."""
    hub.faults.set_throttle(2_000_000)
    model = hub_client.post(API, json={"repo_id": "org/big"}).json()
    job_id = model["job_id"]
    paused = hub_client.post(f"{API}/{model['id']}/cancel?keep_partial=true").json()
    assert paused["status"] == "paused"  # still queued: paused at once
    assert hub_client.post(f"/api/v1/jobs/{job_id}/resume").status_code == 200
    worker_thread(hub_settings)
    partial = (hub_settings.data_dir / "models" / str(model["id"]) / "checkpoint"
               / "model.safetensors.incomplete")
    wait_for(lambda: partial.exists() and partial.stat().st_size > 1_000_000)
    assert hub_client.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 200
    cancelled = wait_model(model["id"], "cancelled", "paused", "failed")
    assert cancelled["status"] == "cancelled" and not partial.exists()


def _set_row(settings: Settings, table: type[Model | Job], row_id: int, **fields: object) -> None:
    """Write a row as a killed worker or an unwritten task leaves it."""
    with make_session_factory(make_engine(settings.resolved_database_url)).begin() as session:
        row = session.get(table, row_id)
        for name, value in fields.items():
            setattr(row, name, value)


def test_the_status_filter_uses_the_status_the_list_shows(
        hub_client: TestClient, hub_settings: Settings, tiny_llama_dir: Path) -> None:
    """``models list --status failed`` (and ``GET /models?status=failed``) filtered on the
    stored status: a model whose worker died mid-import is shown ``interrupted``, one whose
    pause ended its job is shown ``paused``, yet neither was found by that status, and both
    were found by the status the row still said (``importing``, ``downloading``)."""
    imports = hub_settings.import_roots[0]
    ids = []
    for name in ("a", "b", "c"):  # three distinct checkpoints (their fingerprints differ)
        folder = imports / name
        shutil.copytree(tiny_llama_dir, folder)
        (folder / "generation_config.json").write_text(json.dumps({"name": name}))
        created = hub_client.post(f"{API}/import", json={"path": str(folder)})
        assert created.status_code == 201, created.text
        ids.append((created.json()["id"], created.json()["job_id"]))
    (interrupted, interrupted_job), (paused, paused_job), (queued, _) = ids
    _set_row(hub_settings, Model, interrupted, status="importing")
    _set_row(hub_settings, Job, interrupted_job, state="interrupted")  # a killed worker
    _set_row(hub_settings, Model, paused, status="downloading", info={"pause_requested": True})
    _set_row(hub_settings, Job, paused_job, state="cancelled")  # the task had not written it

    def listed(*statuses: str) -> tuple[list[int], int]:
        page = hub_client.get(API, params=[("status", s) for s in statuses]).json()
        return [m["id"] for m in page["items"]], page["total"]

    shown = {m["id"]: m["status"] for m in hub_client.get(API).json()["items"]}
    assert shown == {interrupted: "interrupted", paused: "paused", queued: "queued"}
    assert listed("interrupted") == ([interrupted], 1)
    assert listed("paused", "queued") == ([queued, paused], 2)
    assert listed("importing") == ([], 0) and listed("downloading") == ([], 0)
    page = hub_client.get(API, params={"status": ["interrupted", "paused", "queued"],
                                       "limit": 1, "offset": 1}).json()
    assert [m["id"] for m in page["items"]] == [paused] and page["total"] == 3

    env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(hub_settings.data_dir),
           "INTERPSTUDIO_DATABASE_URL": hub_settings.resolved_database_url}
    result = subprocess.run([sys.executable, "-m", "interpstudio", "models", "list", "--status",
                             "interrupted", "--json"], env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert [m["id"] for m in json.loads(result.stdout)["items"]] == [interrupted]
