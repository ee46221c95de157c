"""``GET /api/v1/health``: liveness plus which database backs the app and, in scale-out, whether
the event broker is reachable now (the app serves without it; only other API processes' events,
``job.deleted``, wait for it)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from interpstudio import __version__
from interpstudio.api.schemas import HealthRead

router = APIRouter(tags=["system"])


@router.get("/health", response_model=HealthRead)
def health(request: Request) -> HealthRead:
    return HealthRead(status="ok", version=__version__,
                      database=request.app.state.engine.dialect.name,
                      broker=request.app.state.bus.broker_state)
