"""``interpstudio demo``: the bundled model and text, end to end, with progress at every step.

1. import the bundled SmolLM2-135M-Instruct (``models import-bundled``), unless it is there (an
   import that stopped, Ctrl-C in this step, is resumed);
2. import the bundled public-domain text (``datasets`` bundled import), unless it is there;
3. tokenize it with the model's tokenizer, packed: the play's lines joined (EOS between them) into
   256-token windows, unless done. Packed, not one sequence per line: the lines average ~9
   tokens, so one per line made 474 of 4,096 rows first positions (attention sinks, the highest
   norms: all 16 of a layer's top-norm rows), cut every line off from its context, and ran
   8-line batches of ~70 tokens (206 tokens/s here, against 529 packed);
4. extract ``blocks.*.resid_post`` (every layer) from the first ``max_tokens`` tokens, unless a
   complete extraction of the same request is there (reused, and said: ``--fresh`` extracts
   again); an extraction of the same request that stopped (Ctrl-C in this step) is resumed, one
   under way (the web UI's "Run the demo", another terminal) followed;
5. print where the store and statistics are and the Python lines to open them.

This module is NOT responsible for any of those steps' rules: it calls the models, datasets,
tokenizations and extractions services, and runs their jobs in this process.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from interpstudio.cli.common import LocalRun, console, load_settings, print_json, session_factory
from interpstudio.cli.extract import (
    _run_job,
    _tokenization_for,
    extraction_dict,
    print_how_to_open,
    run_extraction_command,
)
from interpstudio.core.paths import DataPaths
from interpstudio.core.settings import Settings
from interpstudio.services.dataset_params import TokenizationPolicySpec
from interpstudio.services.extraction_errors import ExtractionAlreadyUnderway

DEMO_MAX_LENGTH = 256
DEMO_POLICY = TokenizationPolicySpec(max_length=DEMO_MAX_LENGTH, mode="pack")


def _step(text: str, quiet: bool) -> None:
    if not quiet:
        console.print(f"\n[bold cyan]>[/bold cyan] {text}")


def _bundled_model(settings: Settings, factory: sessionmaker[Session], quiet: bool) -> int:
    """The bundled model's id, imported here unless it is ready; an import that stopped (Ctrl-C,
    a kill, a failure) is resumed. Found by a tester: after Ctrl-C in step 1, every later
    ``demo`` followed the cancelled job and ended "job 1 cancelled: cancelled by user", exit 1,
    for good (the model row with that key stays, so no new import is queued)."""
    from interpstudio.db.models import Job
    from interpstudio.services import jobs
    from interpstudio.services.model_sources import start_bundled_import
    from interpstudio.services.models import resume_model

    local = LocalRun(settings, factory)
    with factory.begin() as session:
        model, _created = start_bundled_import(session=session, precision="fp32")
        model_id, model_job, model_status = model.id, model.job_id, model.status
        job = session.get(Job, model_job) if model_job is not None else None
        reused = model_status == "ready" or job is None
        if job is not None and not reused:
            stopped = job.state if job.state in jobs.ALLOWED["resume"] else None
            if stopped:
                resume_model(session=session, model_id=model_id,
                             paths=DataPaths(settings.data_dir))
            local.claim(session, model_job)  # committed running here: no server takes it
    if reused:  # imported before its source quantization was recorded: the extract job fills it
        if not quiet:
            console.print(f"using model {model_id} (imported before)", highlight=False)
        return model_id
    if stopped and not quiet:
        console.print(f"resuming its import (model {model_id}, job {model_job}, {stopped})",
                      highlight=False)
    _run_job(local, factory, model_job, enqueue=False, quiet=quiet, what="model import")
    return model_id


def _resume_stopped_extraction(settings: Settings, factory: sessionmaker[Session], spec: Any,
                               quiet: bool) -> dict[str, Any] | None:
    """The demo's extraction stopped by an earlier ``demo`` (Ctrl-C in step 4, a kill, a
    failure), resumed here after its last whole shard and followed; None where there is none
    (the newest of this configuration is complete, or none was made). Found by a tester: after
    Ctrl-C in step 4, ``demo`` again started a new extraction from nothing beside the stopped
    one, as step 3 once did with a stopped tokenization (``_finish_tokenization``)."""
    from interpstudio.services import extractions as service

    local = LocalRun(settings, factory)
    with factory.begin() as session:
        stopped = service.stopped_copy_of(session=session, paths=DataPaths(settings.data_dir),
                                          spec=spec)
        if stopped is None:
            return None
        row, job = stopped
        extraction_id, job_id, state = row.id, job.id, job.state
        service.resume_extraction(session=session, extraction_id=extraction_id)
        local.claim(session, job_id)  # committed running here: no server's worker takes it
    return _follow(settings, factory, local, extraction_id, job_id, quiet,
                   f"resuming extraction {extraction_id} (job {job_id}, {state}) after its last "
                   "whole shard: the same model, tokens and hook points")


def _join_underway(settings: Settings, factory: sessionmaker[Session],
                   underway: ExtractionAlreadyUnderway, quiet: bool) -> dict[str, Any]:
    """The demo's extraction queued or running already (the web UI's "Run the demo", another
    terminal), followed: run here if still queued, else where it runs. Found by a browser walk:
    a click on the home page's button during this command's first steps followed the same jobs
    and then raced it to create the extraction; when the page's create won, this command ended
    "extraction N with the same configuration is running", exit 1."""
    from interpstudio.services import extractions as service

    extraction_id = underway.details["extraction_id"]
    local = LocalRun(settings, factory)
    with factory.begin() as session:
        job_id = service.get_extraction(session=session, extraction_id=extraction_id).job_id
        if job_id is None:  # no job to follow after all: the refusal stands
            raise underway
        local.claim(session, job_id)  # queued: committed running here; running: followed
    return _follow(settings, factory, local, extraction_id, job_id, quiet,
                   f"extraction {extraction_id} of the same request is under way (the web UI's "
                   "demo or another terminal): following it")


def _follow(settings: Settings, factory: sessionmaker[Session], local: LocalRun,
            extraction_id: int, job_id: int, quiet: bool, said: str) -> dict[str, Any]:
    """Say ``said``, run (or follow) the extraction's job ``local`` claimed, and return the
    extraction as the API shows it."""
    if not quiet:
        console.print(said, highlight=False)
    _run_job(local, factory, job_id, enqueue=False, quiet=quiet,
             what=f"extraction {extraction_id}")
    return extraction_dict(settings, factory, extraction_id)


def _complete_extraction(settings: Settings, factory: sessionmaker[Session], spec: Any,
                         quiet: bool) -> dict[str, Any] | None:
    """The demo's extraction an earlier ``demo`` completed (the same request), said and reused;
    None where there is none. Found by a tester: every ``demo`` after a complete one extracted
    again (~143 MB and half a minute each on 2 CPU cores) though the README says a second run
    reuses what it made."""
    from interpstudio.services import extractions as service

    with factory() as session:
        row = service.complete_copy_of(session=session, paths=DataPaths(settings.data_dir),
                                       spec=spec)
        extraction_id = row.id if row is not None else None
    if extraction_id is None:
        return None
    if not quiet:
        console.print(f"already extracted: extraction {extraction_id} (the same model, tokens "
                      "and hook points); `interpstudio demo --fresh` extracts again",
                      highlight=False)
    return extraction_dict(settings, factory, extraction_id)


def run_demo(*, max_tokens: int, as_json: bool, fresh: bool = False) -> dict[str, Any]:
    from interpstudio.services.dataset_params import ReadOptionsSpec
    from interpstudio.services.datasets import add_bundled_dataset
    from interpstudio.services.extraction_params import ExtractionSpec

    settings = load_settings()
    factory = session_factory(settings)

    _step("1/4 bundled model SmolLM2-135M-Instruct", as_json)
    model_id = _bundled_model(settings, factory, as_json)

    _step("2/4 bundled public-domain text", as_json)
    local = LocalRun(settings, factory)
    with factory.begin() as session:
        dataset, _created = add_bundled_dataset(session=session, settings=settings, name=None,
                                                spec=ReadOptionsSpec())
        dataset_id, dataset_job, dataset_status = dataset.id, dataset.job_id, dataset.status
        if dataset_status != "ready" and dataset_job is not None:
            local.claim(session, dataset_job)
    if dataset_status != "ready" and dataset_job is not None:
        _run_job(local, factory, dataset_job, enqueue=False, quiet=as_json,
                 what="dataset import")
    elif dataset_status == "ready" and not as_json:
        console.print(f"using dataset {dataset_id} (imported before)", highlight=False)

    _step(f"3/4 tokenize with the model's tokenizer (lines packed into {DEMO_MAX_LENGTH}-token "
          "windows)", as_json)
    tokenization_id = _tokenization_for(settings, factory, dataset_id=dataset_id,
                                        model_id=model_id, policy=DEMO_POLICY, quiet=as_json,
                                        options_hint=False)

    _step(f"4/4 extract every layer's resid_post from {max_tokens:,} tokens", as_json)
    spec = ExtractionSpec(model_id=model_id, tokenization_id=tokenization_id,
                          hook_points=["blocks.*.resid_post"], batch_size=8,
                          max_tokens=max_tokens, dtype="float16", name="demo: all layers")
    result = (None if fresh else (_complete_extraction(settings, factory, spec, as_json)
                                  or _resume_stopped_extraction(settings, factory, spec, as_json)))
    if result is None:
        try:
            result = run_extraction_command(settings, factory, spec, enqueue=False,
                                            as_json=as_json)
        except ExtractionAlreadyUnderway as underway:
            result = _join_underway(settings, factory, underway, as_json)
    if as_json:
        print_json(result)
    else:
        counts = result["counts"] or {}
        console.print(f"\n[green]done[/green]: {counts.get('rows', 0):,} rows x "
                      f"{len(result['spec']['hook_points_expanded'])} hook points, "
                      f"{(counts.get('tokens_per_s') or 0):,.0f} tokens/s")
        print_how_to_open(settings, result)
    return result
