"""``GET /api/v1/health``: liveness plus which database backs the app."""

from __future__ import annotations

from fastapi import APIRouter, Request

from interpstudio import __version__
from interpstudio.api.schemas import HealthRead

router = APIRouter(tags=["system"])


@router.get("/health", response_model=HealthRead)
def health(request: Request) -> HealthRead:
    return HealthRead(status="ok", version=__version__,
                      database=request.app.state.engine.dialect.name)
