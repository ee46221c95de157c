"""Tokenization use cases: create (dataset x model tokenizer x policy), list, get, preview,
dry-run the policy on a few rows, delete.

The tokenizer comes from a registered model row (``Model.path``, a folder with tokenizer files,
relative to the data dir); ``tokenizer_key`` is the model's ``key``. Every model whose tokenizer
files are byte-identical may use it (``tokenizer_identity.py``; ``list_tokenizations`` filters by
that, and ``create_tokenization`` refuses to make it again for such a model). The policy as
requested is hashed for uniqueness; the job records the resolved policy (BOS default made
explicit). Previews use the torch-free ``PieceTokenizer``. Functions take keyword-only arguments
and a session they do not commit. This module is NOT responsible for running the job
(``jobs/tasks/datasets.py``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from interpstudio.core.paths import DataPaths
from interpstudio.db.models import Model, Tokenization
from interpstudio.db.repositories import datasets as repo
from interpstudio.ml.text_store import read_rows
from interpstudio.ml.token_pieces import PieceTokenizer
from interpstudio.ml.token_store import open_tokenized
from interpstudio.ml.tokenize import (
    TokenizationPolicy,
    added_specials,
    resolve_policy,
    row_is_kept,
    truncate_ids,
)
from interpstudio.services import jobs as job_service
from interpstudio.services.dataset_errors import (
    DatasetNotReady,
    MaxLengthPastPositions,
    TokenizationExists,
    TokenizationInUse,
    TokenizationNotFound,
    TokenizationNotReady,
    TokenizerUnavailable,
    UsableTokenizationExists,
)
from interpstudio.services.dataset_files import (
    remove_folder,
    resolve,
    text_file,
    tokenization_relpath,
)
from interpstudio.services.dataset_params import TokenizationPolicySpec
from interpstudio.services.datasets import (
    _refuse_active,
    announce_work,
    dataset_job,
    get_dataset,
)
from interpstudio.services.model_errors import ModelNotFound
from interpstudio.services.models import model_positions
from interpstudio.services.tokenizer_identity import maker_of, usable_tokenizer_keys

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")
PREVIEW_MAX_TOKENS = 256
# another model's tokenization that makes one for this model redundant: made or being made (a
# failed, cancelled or interrupted one is not: tokenizing again with this model is the way on)
LIVE_TOKENIZATION = ("queued", "running", "ready")


def requested_policy_hash(spec: TokenizationPolicySpec) -> str:
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def tokenizer_folder(*, session: Session, paths: DataPaths, model_id: int) -> tuple[Model, Path]:
    model = session.get(Model, model_id)
    if model is None:
        raise ModelNotFound(model_id)
    if model.status != "ready" or not model.path:
        raise TokenizerUnavailable(model_id, f"the model is {model.status}; wait until it is "
                                   "ready")
    folder = resolve(paths, model.path)
    if not any((folder / name).exists() for name in TOKENIZER_FILES):
        raise TokenizerUnavailable(model_id, f"no tokenizer files in {model.path}")
    return model, folder


def get_tokenization(*, session: Session, tokenization_id: int) -> Tokenization:
    tokenization = repo.get_tokenization(session, tokenization_id)
    if tokenization is None:
        raise TokenizationNotFound(tokenization_id)
    return tokenization


def list_tokenizations(*, session: Session, paths: DataPaths, dataset_id: int, limit: int,
                       offset: int, usable_with_model: int | None = None,
                       ) -> tuple[list[Tokenization], int]:
    """Newest first; with ``usable_with_model``, only those that model may extract from: made
    with its tokenizer or one of byte-identical files (``tokenizer_identity``)."""
    get_dataset(session=session, dataset_id=dataset_id)
    keys = None
    if usable_with_model is not None:
        model = session.get(Model, usable_with_model)
        if model is None:
            raise ModelNotFound(usable_with_model)
        keys = usable_tokenizer_keys(session=session, paths=paths, model=model,
                                     keys=repo.tokenizer_keys_of(session, dataset_id))
    return repo.list_tokenizations(session, dataset_id=dataset_id, limit=limit, offset=offset,
                                   tokenizer_keys=keys)


def fit_to_positions(*, session: Session, paths: DataPaths, model_id: int,
                     policy: TokenizationPolicySpec, option: str = "max length",
                     ) -> tuple[TokenizationPolicySpec, str | None]:
    """``policy`` held to the model's positions (``model_positions``): a max length the caller
    gave past them is refused (``MaxLengthPastPositions``, naming ``option``); one left out
    (not in ``model_fields_set``) whose default (1024) is past them is cut to them, with the
    line that says so (else None). The cut policy gives its max length, so it hashes as a
    request that gave the limit: both find one tokenization (a 256-position model was
    tokenized at 1024, a long job, and then refused, or run past its positions)."""
    found = model_positions(session=session, paths=paths, model_id=model_id)
    if found is None:
        return policy, None
    limit, source = found
    if policy.max_length <= limit:
        return policy, None
    if "max_length" in policy.model_fields_set:
        raise MaxLengthPastPositions(model_id, policy.max_length, limit, source, option=option)
    return policy.model_copy(update={"max_length": limit}), (
        f"max length {limit}: model {model_id} takes at most {limit:,} positions ({source}; the "
        f"default is {policy.max_length}); {option} picks another")


def create_tokenization(*, session: Session, paths: DataPaths, dataset_id: int, model_id: int,
                        policy: TokenizationPolicySpec, batch_rows: int = 1024,
                        option: str = "max length") -> Tokenization:
    """Check dataset and tokenizer, hold the policy to the model's positions
    (``fit_to_positions``: a default max length cut, recorded as ``max_length_note`` in the
    policy; a given one past them refused, naming ``option``: the CLI's ``--max-length``),
    refuse a duplicate (``TokenizationExists``: one made with this model's tokenizer, or
    ``UsableTokenizationExists``: one queued, running or ready made with byte-identical tokenizer
    files, ``usable_tokenization``), then queue the ``tokenize`` job."""
    dataset = get_dataset(session=session, dataset_id=dataset_id)
    if dataset.status != "ready":
        raise DatasetNotReady(dataset_id, dataset.status)
    model, _folder = tokenizer_folder(session=session, paths=paths, model_id=model_id)
    policy, note = fit_to_positions(session=session, paths=paths, model_id=model.id,
                                    policy=policy, option=option)
    digest = requested_policy_hash(policy)
    same = repo.find_tokenization(session, dataset_id=dataset_id, tokenizer_key=model.key,
                                  policy_hash=digest)
    if same is not None:
        raise TokenizationExists(same.id, same.status)
    usable = usable_tokenization(session=session, paths=paths, dataset_id=dataset_id,
                                 model=model, policy_hash=digest)
    if usable is not None:
        maker = maker_of(session, usable.tokenizer_key)
        if maker is not None:  # usable only while its maker is registered
            raise UsableTokenizationExists(
                existing_id=usable.id, status=usable.status, tokenizer_key=usable.tokenizer_key,
                maker_id=maker.id, maker_key=maker.key, model_id=model.id, model_key=model.key)
    tokenization, created = repo.create_tokenization_unless_made(
        session, dataset_id=dataset_id, model_id=model_id, tokenizer_key=model.key,
        policy={"requested": policy.model_dump(mode="json"),
                **({"max_length_note": note} if note else {})},
        policy_hash=digest, status="queued")
    if not created:  # a moment ago, by a concurrent request (one made before is refused above)
        raise TokenizationExists(tokenization.id, tokenization.status)
    job = job_service.create_job(session=session, kind="tokenize",
                                 params={"tokenization_id": tokenization.id,
                                         "batch_rows": batch_rows})
    announce_work(session, job.id, total=int(dataset.rows or 0), unit="rows")
    return repo.update(session, tokenization, job_id=job.id,
                       path=tokenization_relpath(dataset_id, tokenization.id))


def usable_tokenization(*, session: Session, paths: DataPaths, dataset_id: int, model: Model,
                        policy_hash: str) -> Tokenization | None:
    """The newest queued, running or ready tokenization of ``dataset_id`` under ``policy_hash``
    made with another model's tokenizer that ``model`` may use (``usable_tokenizer_keys``:
    byte-identical tokenizer files); None when there is none. Equal policy hashes are equal max
    lengths, so it is within ``model``'s positions (``fit_to_positions`` held the request)."""
    keys = repo.tokenizer_keys_of(session, dataset_id)
    others = usable_tokenizer_keys(session=session, paths=paths, model=model,
                                   keys=keys) - {model.key}
    if not others:
        return None
    return session.scalars(select(Tokenization).where(
        Tokenization.dataset_id == dataset_id, Tokenization.policy_hash == policy_hash,
        Tokenization.tokenizer_key.in_(sorted(others)),
        Tokenization.status.in_(LIVE_TOKENIZATION)).order_by(Tokenization.id.desc())).first()


def _token_view(tokenizer: PieceTokenizer, ids: list[int]) -> dict[str, Any]:
    shown = ids[:PREVIEW_MAX_TOKENS]
    return {"n_tokens": len(ids), "ids": shown, "pieces": tokenizer.pieces(shown),
            "token_texts": tokenizer.texts(shown)}


def preview_tokenization(*, session: Session, paths: DataPaths, tokenization_id: int,
                         offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Stored sequences beside their own text, never more than the sequence: the source row's
    text where the sequence is that whole row (truncate mode, shorter than ``max_length``),
    else the sequence decoded (a packed window, a cut row; a 2 MB row is not sent per window)."""
    tokenization = get_tokenization(session=session, tokenization_id=tokenization_id)
    if tokenization.status != "ready" or tokenization.path is None:
        raise TokenizationNotReady(tokenization_id, tokenization.status)
    _model, folder = tokenizer_folder(session=session, paths=paths,
                                      model_id=int(tokenization.model_id or 0))
    tokenizer = PieceTokenizer(folder)
    store = open_tokenized(resolve(paths, tokenization.path))
    dataset = get_dataset(session=session, dataset_id=tokenization.dataset_id)
    indices = range(offset, min(offset + limit, len(store)))
    whole_rows = store.policy.get("mode") == "truncate"
    max_length = int(store.policy.get("max_length") or 0)
    lengths = store.lengths  # (n_sequences,)
    rows = {int(store.source_rows[i]) for i in indices
            if whole_rows and store.source_rows[i] >= 0 and int(lengths[i]) < max_length}
    texts = {}
    if rows and dataset.path:
        lo = min(rows)
        texts = {r: t for r, t in read_rows(text_file(paths, dataset.path), offset=lo,
                                            limit=max(rows) - lo + 1) if r in rows}
    items = []
    for i in indices:
        ids = store.sequence(i).tolist()
        row = int(store.source_rows[i])
        text = texts.get(row) if row in rows else None
        items.append({"index": i, "source_row": row,
                      "text": tokenizer.decode(ids) if text is None else text,
                      **_token_view(tokenizer, ids)})
    return items, len(store)


def dry_run_policy(*, session: Session, paths: DataPaths, dataset_id: int, model_id: int,
                   policy: TokenizationPolicySpec, limit: int) -> dict[str, Any]:
    """The resolved policy and the first ``limit`` rows with their tokens, before any job; held
    to the model's positions as ``create_tokenization`` holds it (``fit_to_positions``)."""
    dataset = get_dataset(session=session, dataset_id=dataset_id)
    if dataset.status != "ready" or dataset.path is None:
        raise DatasetNotReady(dataset_id, dataset.status)
    model, folder = tokenizer_folder(session=session, paths=paths, model_id=model_id)
    policy, note = fit_to_positions(session=session, paths=paths, model_id=model.id,
                                    policy=policy)  # create's rule: what it makes or refuses
    tokenizer = PieceTokenizer(folder)
    resolved = resolve_policy(TokenizationPolicy(**policy.model_dump()), tokenizer,
                              fingerprint=False)  # a preview: nothing is stored
    if note:
        resolved["max_length_note"] = note
    rows = read_rows(text_file(paths, dataset.path), offset=0, limit=limit)
    use_specials = resolved["mode"] == "truncate" and resolved["bos_source"] == "tokenizer default"
    encoded = tokenizer([t for _r, t in rows], add_special_tokens=use_specials,
                        split_special_tokens=resolved["split_special_tokens"])["input_ids"]
    bos = [tokenizer.bos_token_id] if resolved["add_bos"] and not use_specials else []
    eos = [tokenizer.eos_token_id] if resolved["mode"] == "pack" else []
    specials = added_specials(tokenizer, use_specials)
    items = []
    for (row, text), ids in zip(rows, encoded, strict=True):
        full = [*bos, *ids, *eos]
        kept = (truncate_ids(full, resolved["max_length"], specials)
                if resolved["mode"] == "truncate" else full)
        dropped = not row_is_kept(len(ids) - sum(specials), resolved["min_tokens"])
        truncated = resolved["mode"] == "truncate" and len(full) > resolved["max_length"]
        items.append({"source_row": row, "text": text, "dropped": dropped,
                      "truncated": truncated, **_token_view(tokenizer, kept)})
    return {"policy": resolved, "rows": items}


def delete_tokenization(*, session: Session, paths: DataPaths, tokenization_id: int,
                        force: bool = False) -> None:
    """Delete the tokenization, its files and finished job; with ``force`` also the extractions
    made from it. Refused (``dataset_busy``) while its job or any of theirs is queued/running."""
    tokenization = get_tokenization(session=session, tokenization_id=tokenization_id)
    _refuse_active(session, f"tokenization {tokenization_id}", tokenization.job_id,
                   "delete the tokenization")
    job = dataset_job(session=session, job_id=tokenization.job_id)
    extractions = repo.extractions_using(session, [tokenization_id])
    if extractions and not force:
        raise TokenizationInUse(tokenization_id, extractions)
    for extraction in extractions:  # never remove a store under a live extraction job
        _refuse_active(session, f"extraction {extraction['id']}", extraction["job_id"],
                       "delete the tokenization")
    folders = [resolve(paths, p) for p in (tokenization.path, *(e["path"] for e in extractions))
               if p]
    repo.delete_rows(session, extraction_ids=[e["id"] for e in extractions],
                     tokenization_ids=[tokenization_id])
    job_service.delete_jobs_of_removed(session=session, paths=paths, job_ids=[
        job.id if job is not None else None, *(e["job_id"] for e in extractions)])
    for folder in folders:
        remove_folder(folder)
