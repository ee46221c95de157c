"""The import direction of DESIGN.md holds: ml never imports the app layers; core imports no
other layer; the API modules do not import torch."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "interpstudio"
FORBIDDEN = {
    "core": ("interpstudio.db", "interpstudio.ml", "interpstudio.services", "interpstudio.jobs",
             "interpstudio.api", "interpstudio.cli"),
    "db": ("interpstudio.ml", "interpstudio.services", "interpstudio.jobs", "interpstudio.api"),
    "ml": ("interpstudio.db", "interpstudio.services", "interpstudio.jobs", "interpstudio.api",
           "interpstudio.cli"),
    "services": ("interpstudio.jobs", "interpstudio.api", "interpstudio.cli", "torch"),
    "api": ("interpstudio.jobs", "interpstudio.cli", "torch"),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    offenders = []
    for path in sorted((SRC / layer).rglob("*.py")):
        for name in _imports(path):
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[layer]):
                offenders.append(f"{path.relative_to(SRC)} imports {name}")
    assert offenders == []
