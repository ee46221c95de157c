"""`/api/v1/models` routes (being built: see docs/ARCHITECTURE.md)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["models"])
