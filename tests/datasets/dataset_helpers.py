"""Helpers for the datasets tests (imported as ``dataset_helpers``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from interpstudio.core.settings import Settings
from interpstudio.db.models import Model
from interpstudio.db.session import make_engine, make_session_factory

TINY_LLAMA_KEY = "org/tiny-llama@0123456789abcdef"


def register_model_row(settings: Settings, folder: Path, key: str = TINY_LLAMA_KEY) -> int:
    """Copy a tiny model folder into the data dir and add a ready ``models`` row for it (what
    the models capability leaves behind after a download)."""
    target = settings.data_dir / "models" / key.replace("/", "--").replace("@", "--")
    shutil.copytree(folder, target, dirs_exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine).begin() as session:
            model = Model(key=key, name=key.split("@")[0], source="hub", status="ready",
                          path=str(target.relative_to(settings.data_dir)), files=[], info={})
            session.add(model)
            session.flush()
            return model.id
    finally:
        engine.dispose()
