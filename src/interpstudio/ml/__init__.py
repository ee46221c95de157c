"""ml layer of Interp Studio; see docs/ARCHITECTURE.md.

The notebook entry points are exported lazily (the engine lives in ``extract_engine``: a module
named ``extract`` would shadow the function), so ``import interpstudio.ml`` imports neither
torch nor numpy until one of them is used::

    from interpstudio.ml import extract, open_activations, preflight, tokenize_texts
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "extract": "interpstudio.ml.extract_engine",
    "ExtractionResult": "interpstudio.ml.extract_outcome",
    "ExtractionProgress": "interpstudio.ml.extract_outcome",
    "preflight": "interpstudio.ml.extract_preflight",
    "open_activations": "interpstudio.ml.store_reader",
    "open_tokenized": "interpstudio.ml.token_store",
    "tokenize_texts": "interpstudio.ml.tokenize",
    "export_saelens": "interpstudio.ml.export",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'interpstudio.ml' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
