"""Queueing the bundled model's import reads its GGUF header once: ``start_bundled_import``
planned the import, then ``_queue_import`` planned it again (~1.4 s each on 2 CPU cores, in the
first five minutes of ``demo`` and of the home page's button)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpers import make_settings
from interpstudio.db.migrate import upgrade
from interpstudio.db.session import make_engine, make_session_factory
from interpstudio.ml import local_import
from interpstudio.services import model_sources


def test_the_bundled_gguf_is_planned_once(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)
    upgrade(settings.resolved_database_url)
    plans: list[Path] = []
    plan_import = local_import.plan_import

    def counted(source: Path, *args: Any, **kwargs: Any) -> Any:  # the real plan, counted
        plans.append(Path(source))
        return plan_import(source, *args, **kwargs)

    monkeypatch.setattr(local_import, "plan_import", counted)
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine).begin() as session:
            model, created = model_sources.start_bundled_import(session=session)
            assert created and model.status in ("queued", "importing")
    finally:
        engine.dispose()
    assert len(plans) == 1 and plans[0].suffix == ".gguf"
