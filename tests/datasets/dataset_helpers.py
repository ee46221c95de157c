"""Helpers for the datasets tests (imported as ``dataset_helpers``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy.orm import Session

from interpstudio.core.settings import Settings
from interpstudio.db.models import Dataset, Model
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


def write_incompressible_dataset(folder: Path, rows: int = 8500) -> Path:
    """A hub-layout dataset (``data/train-...parquet``) of random hex rows, ~3 KB each, stored
    without compression, so its size on the wire is known (8500 rows: ~25 MB)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = folder / "data"
    data.mkdir(parents=True)
    rng = np.random.default_rng(0)
    texts = [rng.bytes(1500).hex() for _ in range(rows)]
    pq.write_table(pa.table({"text": texts}), data / "train-00000-of-00001.parquet",
                   compression="none")
    return folder


def add_bundled(*, session: Session, settings: Settings, name: str | None = None) -> Dataset:
    """The bundled play with the default read options (for the ``call`` fixture)."""
    from interpstudio.services.dataset_params import ReadOptionsSpec
    from interpstudio.services.datasets import add_bundled_dataset

    return add_bundled_dataset(session=session, settings=settings, name=name,
                               spec=ReadOptionsSpec())[0]
