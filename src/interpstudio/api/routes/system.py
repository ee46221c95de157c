"""``GET /api/v1/system``: CPU, RAM, disk of the data dir and GPUs (torch-free)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from interpstudio.api.deps import SettingsDep
from interpstudio.api.schemas import SystemRead
from interpstudio.services.system import system_metrics

router = APIRouter(tags=["system"])


@router.get("/system", response_model=SystemRead)
def get_system(settings: SettingsDep, request: Request) -> SystemRead:
    return SystemRead.model_validate(system_metrics(data_dir=settings.data_dir,
                                                    cpu=request.app.state.cpu))
