"""``/api/v1/models``: preflight, download, import (folder / safetensors / gguf / bundled), list,
get, rename, delete, cancel / pause, resume, retry, architecture.

Creating returns 201 for a new model and 200 with the existing record when the same model (same
``repo_id@commit`` or same local files) was already added. This module is NOT responsible for any
rule: each route parses a schema, calls one service function and returns a schema.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from interpstudio.api.deps import PathsDep, SessionDep, SettingsDep
from interpstudio.api.model_schemas import (
    ModelArchitectureRead,
    ModelBundledCreate,
    ModelCreate,
    ModelDep,
    ModelImportCreate,
    ModelJobAction,
    ModelList,
    ModelPreflightRead,
    ModelPreflightRequest,
    ModelRead,
    ModelStatus,
    ModelUpdate,
    secret,
)
from interpstudio.api.schemas import ErrorResponse
from interpstudio.services import model_sources as sources
from interpstudio.services import models as service

router = APIRouter(tags=["models"], responses={
    code: {"model": ErrorResponse} for code in (403, 502, 507)})
EXISTING = {200: {"model": ModelRead, "description": "Already added: the existing model."}}


def _created(model: Any, created: bool, session: SessionDep, paths: PathsDep,
             response: Response) -> ModelRead:
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return ModelRead.from_model(model, session, paths)


@router.post("/models/preflight", response_model=ModelPreflightRead)
def preflight_model(body: ModelPreflightRequest, settings: SettingsDep) -> dict[str, Any]:
    return sources.preflight_hub_model(settings=settings, repo_id=body.repo_id,
                                       revision=body.revision, token=secret(body.token),
                                       precision=body.precision,
                                       drift_precisions=list(body.drift_precisions))


@router.post("/models", response_model=ModelRead, status_code=status.HTTP_201_CREATED,
             responses=EXISTING)
def create_model(body: ModelCreate, session: SessionDep, settings: SettingsDep,
                 paths: PathsDep, response: Response) -> ModelRead:
    model, created = sources.start_download(
        session=session, settings=settings, repo_id=body.repo_id, revision=body.revision,
        precision=body.precision, token=secret(body.token), name=body.name,
        drift_precisions=list(body.drift_precisions))
    return _created(model, created, session, paths, response)


@router.post("/models/import", response_model=ModelRead, status_code=status.HTTP_201_CREATED,
             responses=EXISTING)
def import_model(body: ModelImportCreate, session: SessionDep, settings: SettingsDep,
                 paths: PathsDep, response: Response) -> ModelRead:
    model, created = sources.start_import(
        session=session, settings=settings, path=body.path, config_path=body.config_path,
        precision=body.precision, name=body.name, drift_precisions=list(body.drift_precisions))
    return _created(model, created, session, paths, response)


@router.post("/models/import-bundled", response_model=ModelRead,
             status_code=status.HTTP_201_CREATED, responses=EXISTING)
def import_bundled_model(body: ModelBundledCreate, session: SessionDep, paths: PathsDep,
                         response: Response) -> ModelRead:
    model, created = sources.start_bundled_import(
        session=session, precision=body.precision, drift_precisions=list(body.drift_precisions))
    return _created(model, created, session, paths, response)


@router.get("/models", response_model=ModelList)
def list_models(
    session: SessionDep,
    paths: PathsDep,
    status_: Annotated[list[ModelStatus], Query(alias="status", max_length=16)] = [],  # noqa: B006
    search: Annotated[str | None, Query(max_length=256)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> ModelList:
    items, total = service.list_models(session=session, statuses=list(status_), search=search,
                                       limit=limit, offset=offset)
    return ModelList(items=[ModelRead.from_model(m, session, paths) for m in items],
                     total=total)


@router.get("/models/{model_id}", response_model=ModelRead)
def get_model(model: ModelDep, session: SessionDep, paths: PathsDep) -> ModelRead:
    return ModelRead.from_model(model, session, paths)


@router.patch("/models/{model_id}", response_model=ModelRead)
def update_model(model: ModelDep, body: ModelUpdate, session: SessionDep,
                 paths: PathsDep) -> ModelRead:
    renamed = service.rename_model(session=session, model_id=model.id, name=body.name)
    return ModelRead.from_model(renamed, session, paths)


@router.delete("/models/{model_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_model(model: ModelDep, session: SessionDep, paths: PathsDep,
                 force: bool = False) -> Response:
    service.delete_model(session=session, model_id=model.id, paths=paths,
                         force=force)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/models/{model_id}/cancel", response_model=ModelRead)
def cancel_model(model: ModelDep, session: SessionDep, paths: PathsDep,
                 keep_partial: bool = False) -> ModelRead:
    """Stop the download/import; ``keep_partial=true`` pauses (partial files kept)."""
    cancelled = service.cancel_model(session=session, model_id=model.id,
                                     keep_partial=keep_partial, paths=paths)
    return ModelRead.from_model(cancelled, session, paths)


@router.post("/models/{model_id}/resume", response_model=ModelRead)
def resume_model(model: ModelDep, session: SessionDep, paths: PathsDep,
                 body: ModelJobAction | None = None) -> ModelRead:
    resumed = service.resume_model(session=session, model_id=model.id,
                                   paths=paths,
                                   token=secret(body.token) if body else None)
    return ModelRead.from_model(resumed, session, paths)


@router.post("/models/{model_id}/retry", response_model=ModelRead)
def retry_model(model: ModelDep, session: SessionDep, paths: PathsDep,
                body: ModelJobAction | None = None) -> ModelRead:
    retried = service.retry_model(session=session, model_id=model.id,
                                  paths=paths,
                                  token=secret(body.token) if body else None)
    return ModelRead.from_model(retried, session, paths)


@router.get("/models/{model_id}/architecture", response_model=ModelArchitectureRead)
def get_model_architecture(model: ModelDep, session: SessionDep,
                           paths: PathsDep) -> dict[str, Any]:
    return service.read_architecture(session=session, model_id=model.id,
                                     paths=paths)
