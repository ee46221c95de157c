"""``/api/v1/datasets`` and ``/api/v1/tokenizations``: add (hub / local / bundled / upload), list,
get, rename, delete, preview rows; create, list, get, preview and delete tokenizations, and a
dry-run preview of a tokenization policy.

This module is NOT responsible for any rule: each route parses a schema, calls one service
function and returns a schema.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from interpstudio.api.dataset_schemas import (
    DatasetCreate,
    DatasetDeleted,
    DatasetDep,
    DatasetList,
    DatasetPreview,
    DatasetRead,
    DatasetUpdate,
    PolicyPreview,
    PolicyPreviewRequest,
    PreviewRow,
    TokenizationCreate,
    TokenizationDep,
    TokenizationList,
    TokenizationPreview,
    TokenizationRead,
)
from interpstudio.api.deps import PathsDep, SessionDep, SettingsDep
from interpstudio.api.schemas import ErrorResponse
from interpstudio.api.uploads import receive_upload
from interpstudio.core.errors import InvalidInput
from interpstudio.services import datasets as service
from interpstudio.services import tokenizations as tokenization_service
from interpstudio.services.dataset_params import ReadOptionsSpec

router = APIRouter(tags=["datasets"], responses={
    code: {"model": ErrorResponse} for code in (403, 413, 502, 507)})
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=2**62)]
UPLOAD_FIELDS = ("text_column", "txt_mode", "decode", "max_record_bytes")
UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["files"], "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
        "name": {"type": "string"}, "text_column": {"type": "string"},
        "txt_mode": {"type": "string", "enum": ["line", "file"]},
        "decode": {"type": "string", "enum": ["strict", "replace"]}}}}}}}


@router.get("/datasets", response_model=DatasetList)
def list_datasets(session: SessionDep, limit: Limit = 50, offset: Offset = 0) -> DatasetList:
    items, total = service.list_datasets(session=session, limit=limit, offset=offset)
    return DatasetList(items=[DatasetRead.from_row(d, session) for d in items], total=total)


@router.post("/datasets", response_model=DatasetRead, status_code=status.HTTP_201_CREATED,
             responses={200: {"model": DatasetRead, "description": (
                 "The bundled text, already added with these read options: the existing "
                 "dataset.")}})
def create_dataset(body: DatasetCreate, session: SessionDep, settings: SettingsDep,
                   response: Response) -> DatasetRead:
    if body.source == "bundled":
        dataset, created = service.add_bundled_dataset(session=session, settings=settings,
                                                       name=body.name, spec=body.read)
        if not created:
            response.status_code = status.HTTP_200_OK
    elif body.source == "hub":
        if not body.repo_id:
            raise InvalidInput("a hub dataset needs repo_id (e.g. org/name)")
        dataset = service.add_hub_dataset(
            session=session, settings=settings, repo_id=body.repo_id, revision=body.revision,
            config=body.config, split=body.split, name=body.name, spec=body.read,
            token=body.token.get_secret_value() if body.token else None)
    else:
        dataset = service.add_local_dataset(session=session, settings=settings,
                                            files=body.paths, name=body.name, spec=body.read)
    return DatasetRead.from_row(dataset, session)


@router.post("/datasets/upload", response_model=DatasetRead,
             status_code=status.HTTP_201_CREATED, openapi_extra=UPLOAD_BODY)
async def upload_dataset(request: Request, session: SessionDep,
                         settings: SettingsDep) -> DatasetRead:
    staging = request.app.state.paths.tmp / f"upload-{uuid.uuid4().hex}"
    files, fields = await receive_upload(request, staging, settings.max_upload_bytes)
    try:
        spec = ReadOptionsSpec.model_validate({k: fields[k] for k in UPLOAD_FIELDS
                                               if fields.get(k)})
    except ValidationError as exc:
        raise InvalidInput("invalid upload options", details={
            "errors": exc.errors(include_url=False, include_context=False)}) from None

    def adopt() -> DatasetRead:
        dataset = service.add_uploaded_dataset(session=session, settings=settings,
                                               staging=staging, files=files,
                                               name=fields.get("name") or None, spec=spec)
        return DatasetRead.from_row(dataset, session)

    return await run_in_threadpool(adopt)


@router.get("/datasets/{dataset_id}", response_model=DatasetRead)
def get_dataset(dataset: DatasetDep, session: SessionDep) -> DatasetRead:
    return DatasetRead.from_row(dataset, session)


@router.patch("/datasets/{dataset_id}", response_model=DatasetRead)
def rename_dataset(dataset: DatasetDep, body: DatasetUpdate, session: SessionDep) -> DatasetRead:
    renamed = service.rename_dataset(session=session, dataset_id=dataset.id, name=body.name)
    return DatasetRead.from_row(renamed, session)


@router.delete("/datasets/{dataset_id}", response_model=DatasetDeleted)
def delete_dataset(dataset: DatasetDep, session: SessionDep, paths: PathsDep,
                   force: bool = False) -> dict[str, Any]:
    return service.delete_dataset(session=session, paths=paths,
                                  dataset_id=dataset.id, force=force)


@router.get("/datasets/{dataset_id}/preview", response_model=DatasetPreview)
def preview_dataset(dataset: DatasetDep, session: SessionDep, paths: PathsDep,
                    offset: Offset = 0, limit: Annotated[int, Query(ge=1, le=200)] = 20,
                    random: bool = False, seed: Annotated[int, Query(ge=0)] = 0,
                    max_chars: Annotated[int, Query(ge=1, le=1_000_000)] = 4000,
                    ) -> DatasetPreview:
    """Rows cut at ``max_chars`` each (a whole-file row of a book is megabytes: 50 of them were
    sent whole), with each row's full length."""
    rows, total = service.preview_rows(session=session, paths=paths,
                                       dataset_id=dataset.id, offset=offset, limit=limit,
                                       random=random, seed=seed)
    return DatasetPreview(items=[PreviewRow(row=r, text=t[:max_chars], chars=len(t),
                                            truncated=len(t) > max_chars) for r, t in rows],
                          total=total, offset=offset, limit=limit, random=random)


@router.post("/datasets/{dataset_id}/tokenizations", response_model=TokenizationRead,
             status_code=status.HTTP_201_CREATED)
def create_tokenization(dataset: DatasetDep, body: TokenizationCreate, session: SessionDep,
                        paths: PathsDep) -> TokenizationRead:
    """Queue a tokenization. 409 ``tokenization_exists`` where one would be redundant: the
    dataset has one under that policy made with this model's tokenizer, or one queued, running
    or ready made with another model's byte-identical tokenizer files (``details``:
    ``tokenization_id``, and for the latter ``maker_model_id``); use that one."""
    created = tokenization_service.create_tokenization(
        session=session, paths=paths, dataset_id=dataset.id,
        model_id=body.model_id, policy=body.policy, batch_rows=body.batch_rows)
    return TokenizationRead.from_row(created, session)


@router.get("/datasets/{dataset_id}/tokenizations", response_model=TokenizationList)
def list_tokenizations(dataset: DatasetDep, session: SessionDep, paths: PathsDep,
                       limit: Limit = 50, offset: Offset = 0,
                       usable_with_model: Annotated[int | None, Query(
                           description="Only the tokenizations this model may extract from: "
                           "made with its tokenizer, or with another model's whose tokenizer "
                           "files are byte-identical.")] = None) -> TokenizationList:
    items, total = tokenization_service.list_tokenizations(
        session=session, paths=paths, dataset_id=dataset.id, limit=limit, offset=offset,
        usable_with_model=usable_with_model)
    return TokenizationList(items=[TokenizationRead.from_row(t, session) for t in items],
                            total=total)


@router.post("/datasets/{dataset_id}/tokenize-preview", response_model=PolicyPreview)
def preview_policy(dataset: DatasetDep, body: PolicyPreviewRequest, session: SessionDep,
                   paths: PathsDep) -> dict[str, Any]:
    return tokenization_service.dry_run_policy(
        session=session, paths=paths, dataset_id=dataset.id,
        model_id=body.model_id, policy=body.policy, limit=body.limit)


@router.get("/tokenizations/{tokenization_id}", response_model=TokenizationRead)
def get_tokenization(tokenization: TokenizationDep, session: SessionDep) -> TokenizationRead:
    return TokenizationRead.from_row(tokenization, session)


@router.get("/tokenizations/{tokenization_id}/preview", response_model=TokenizationPreview)
def preview_tokenization(tokenization: TokenizationDep, session: SessionDep, paths: PathsDep,
                         offset: Offset = 0, limit: Annotated[int, Query(ge=1, le=50)] = 5
                         ) -> dict[str, Any]:
    items, total = tokenization_service.preview_tokenization(
        session=session, paths=paths, tokenization_id=tokenization.id,
        offset=offset, limit=limit)
    return {"items": items, "total": total}


@router.delete("/tokenizations/{tokenization_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_tokenization(tokenization: TokenizationDep, session: SessionDep, paths: PathsDep,
                        force: bool = False) -> Response:
    tokenization_service.delete_tokenization(session=session, paths=paths,
                                             tokenization_id=tokenization.id, force=force)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
