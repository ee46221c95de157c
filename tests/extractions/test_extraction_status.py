"""The status filter of ``GET /extractions`` goes by the status the list shows
(``effective_status``), not the one stored on the row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from extraction_world import ExtractionWorld
from helpers import LOOPBACK
from interpstudio.api.app import create_app
from interpstudio.db.models import Extraction, Job

API = "/api/v1/extractions"


@pytest.fixture
def api(world: ExtractionWorld) -> Iterator[TestClient]:
    with TestClient(base_url=LOOPBACK, app=create_app(world.settings)) as client:
        yield client


def test_the_status_filter_uses_the_status_the_list_shows(api: TestClient,
                                                          world: ExtractionWorld) -> None:
    """``?status=interrupted`` missed a run whose worker was killed (stored ``running``, its job
    ``interrupted``, shown ``interrupted``) and ``?status=running`` found it; the same for a
    run stored ``queued`` whose job was cancelled before it ran (shown ``cancelled``)."""
    tokenization_id = world.tokenization()
    made = []
    for point in ("blocks.0.resid_post", "blocks.1.resid_post", "blocks.1.attn_out"):
        created = api.post(API, json={"model_id": world.model_id,
                                      "tokenization_id": tokenization_id,
                                      "hook_points": [point], "device": "cpu"})
        assert created.status_code == 201, created.text
        made.append((created.json()["id"], created.json()["job_id"]))
    (killed, killed_job), (cancelled, cancelled_job), (queued, _) = made
    with world.factory.begin() as session:  # as a killed worker / an unrun cancel leave them
        session.get(Extraction, killed).status = "running"  # type: ignore[union-attr]
        session.get(Job, killed_job).state = "interrupted"  # type: ignore[union-attr]
        session.get(Job, cancelled_job).state = "cancelled"  # type: ignore[union-attr]

    def listed(*statuses: str, **params: int) -> tuple[list[int], int]:
        page = api.get(API, params=[("status", s) for s in statuses] + list(params.items()))
        assert page.status_code == 200, page.text
        return [e["id"] for e in page.json()["items"]], page.json()["total"]

    shown = {e["id"]: e["status"] for e in api.get(API).json()["items"]}
    assert shown == {killed: "interrupted", cancelled: "cancelled", queued: "queued"}
    assert listed("interrupted") == ([killed], 1)
    assert listed("cancelled", "queued") == ([queued, cancelled], 2)
    assert listed("running") == ([], 0)
    assert listed("queued", model_id=world.model_id) == ([queued], 1)
    assert listed("interrupted", "cancelled", "queued", limit=1, offset=1) == ([cancelled], 3)


def test_a_complete_extraction_whose_files_are_gone_says_so_not_resume(tmp_path: Path) -> None:
    """A tester removed a finished store by hand: /stats said "the run stopped before finishing:
    resume it", and resume was refused (its job had succeeded)."""
    from interpstudio.core.paths import DataPaths
    from interpstudio.services.extraction_errors import ExtractionResultsNotReady
    from interpstudio.services.extractions import read_samples, read_stats

    paths = DataPaths(tmp_path)
    row = Extraction(id=7, name="x", status="complete", path="extractions/7")
    for read in (read_stats, read_samples):
        with pytest.raises(ExtractionResultsNotReady) as refused:
            read(paths=paths, row=row)
        assert "files are missing from the data dir" in refused.value.message
        assert "resume" not in refused.value.message
