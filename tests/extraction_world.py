"""``ExtractionWorld``, what the extraction tests' ``world`` fixture (``extractions/conftest.py``)
gives: a module of its own because ``from conftest import ...`` finds whichever ``conftest`` was
imported first, and running ``tests/datasets`` before ``tests/extractions`` broke collection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from interpstudio.core.settings import Settings


@dataclass
class ExtractionWorld:
    settings: Settings
    factory: sessionmaker[Session]
    model_id: int
    dataset_id: int
    # (texts, repeat=1, tokenizer_key=MODEL_KEY, policy_hash=None, policy=None (a stored
    # policy, {} when None), dataset=None (the world's)) -> id
    tokenization: Callable[..., int]

    def record_architecture(self) -> None:
        """Write the model's ``architecture.json`` as its import does (the fixture's model row
        is made through the ORM, without one)."""
        import json

        from transformers import AutoModelForCausalLM

        from interpstudio.core.paths import DataPaths
        from interpstudio.ml.architecture import resolve_architecture
        from interpstudio.ml.model_inspect import hook_points_by_layer
        from interpstudio.services.model_files import architecture_file

        record = architecture_file(DataPaths(self.settings.data_dir), self.model_id)
        record.parent.mkdir(parents=True, exist_ok=True)
        model = AutoModelForCausalLM.from_pretrained(
            str(self.settings.data_dir / "models" / str(self.model_id) / "checkpoint"))
        record.write_text(json.dumps({"layers": hook_points_by_layer(resolve_architecture(model))}))
