"""The frontend's committed OpenAPI schema equals what the app serves now, so the generated
TypeScript types (checked against that file by ``npm run check:api``) cannot go stale."""

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
