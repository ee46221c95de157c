"""`/api/v1/datasets` routes (being built: see docs/ARCHITECTURE.md)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["datasets"])
