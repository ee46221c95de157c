"""The frontend's committed OpenAPI schema equals what the app serves now, so the generated
TypeScript types (checked against that file by ``npm run check:api``) cannot go stale; the hook
kinds the frontend keeps by hand equal the engine's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_frontend_openapi_json_is_current() -> None:
    current = subprocess.run([sys.executable, "-m", "interpstudio", "openapi"], check=True,
                             capture_output=True, text=True, timeout=120).stdout
    committed = (ROOT / "frontend" / "openapi.json").read_text()
    assert json.loads(committed) == json.loads(current), (
        "frontend/openapi.json is stale: run `.venv/bin/interpstudio openapi --out "
        "frontend/openapi.json && cd frontend && npm run gen:api` and commit both files"
    )


def test_frontend_hook_kinds_mirror_the_engine() -> None:
    """The picker's columns and their hover text (``types.ts``) are the engine's hook kinds and
    descriptions, in order: a kind added or renamed in ``hook_points.py`` must show up there."""
    import re

    from interpstudio.ml.hook_points import HOOK_KIND_DESCRIPTIONS, HOOK_KINDS

    source = (ROOT / "frontend/src/features/extractions/types.ts").read_text()
    kinds = re.search(r"export const HOOK_KINDS = \[([^\]]*)\]", source)
    assert kinds is not None
    assert re.findall(r'"(\w+)"', kinds.group(1)) == list(HOOK_KINDS)
    block = re.search(r"HOOK_KIND_DESCRIPTIONS[^=]*= \{(.*?)\};", source, re.S)
    assert block is not None
    described = dict(re.findall(r'(\w+): "([^"]*)"', block.group(1)))
    assert described == HOOK_KIND_DESCRIPTIONS
