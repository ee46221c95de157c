"""`/api/v1/extractions` routes (being built: see docs/ARCHITECTURE.md)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["extractions"])
