"""``interpstudio jobs list|show|cancel|resume|retry|rm`` and ``interpstudio selftest``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from interpstudio.cli.common import (
    EnqueueOption,
    JsonOption,
    LimitOption,
    LocalRun,
    choices,
    confirm_or_exit,
    console,
    finish_followed_job,
    follow_job,
    job_dict,
    job_dicts,
    load_settings,
    print_jobs,
    print_json,
    print_listing,
    session_factory,
    session_scope,
)
from interpstudio.db.models import JOB_STATES
from interpstudio.services.job_kinds import JOB_KINDS

app = typer.Typer(help="Inspect and control jobs.", no_args_is_help=True)
selftest_app = typer.Typer()


@app.command("list")
def jobs_list(
    state: Annotated[list[str] | None, choices(JOB_STATES, "state")] = None,
    kind: Annotated[list[str] | None, choices(sorted(JOB_KINDS), "kind")] = None,
    extraction: Annotated[int | None, typer.Option(
        min=1, help="Only this extraction's jobs (its run and its exports).")] = None,
    limit: LimitOption = 50,
    as_json: JsonOption = False,
) -> None:
    """List jobs, newest first."""
    from interpstudio.services import jobs as service

    with session_scope(load_settings()) as session:
        items, total = service.list_jobs(session=session, states=state or [], kinds=kind or [],
                                         extraction_id=extraction, limit=limit, offset=0)
        jobs = job_dicts(session, items)
    print_listing(jobs, total, as_json=as_json, table=print_jobs, what="jobs",
                  filtered=bool(state or kind or extraction))


def _job_action(action: Callable[..., Any], job_id: int, as_json: bool) -> dict[str, Any]:
    with session_scope(load_settings()) as session:
        job = job_dict(session, action(session=session, job_id=job_id))
    if as_json:
        print_json(job)
    else:
        print_jobs([job])
    return job


@app.command("show")
def jobs_show(job_id: int, as_json: JsonOption = False) -> None:
    """Show one job."""
    from interpstudio.services import jobs as service

    _job_action(service.get_job, job_id, as_json)


@app.command("cancel")
def jobs_cancel(job_id: int, as_json: JsonOption = False) -> None:
    """Cancel a queued or running job (a running one stops at its next check)."""
    from interpstudio.core.paths import DataPaths
    from interpstudio.services import jobs as service

    paths = DataPaths(load_settings().data_dir)  # a queued gated download's token goes with it
    job = _job_action(lambda **ids: service.cancel_job(paths=paths, **ids), job_id, as_json)
    if not as_json and job["state"] == "running":  # the table said "running", nothing more
        console.print(f"cancel requested: job {job_id} stops at its next check "
                      f"(`interpstudio jobs show {job_id}` shows when it has)", highlight=False)


@app.command("resume")
def jobs_resume(job_id: int, enqueue: EnqueueOption = False, as_json: JsonOption = False) -> None:
    """Continue an interrupted, cancelled or failed job from its checkpoint, here with a
    progress bar (Ctrl-C cancels it again), or only queue it for a server/worker."""
    from interpstudio.services import jobs as service

    _requeue(service.resume_job, job_id, enqueue, as_json)


@app.command("retry")
def jobs_retry(
    job_id: int,
    enqueue: EnqueueOption = False,
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="Do not ask before deleting what a stopped extraction kept.")] =
    False,
    as_json: JsonOption = False,
) -> None:
    """Run a stopped job (failed, cancelled, interrupted) again from scratch, here with a
    progress bar, or only queue it (what a stopped extraction kept is deleted: asks first unless
    --yes). A succeeded job is refused: delete what it made and create it anew instead."""
    from interpstudio.services import jobs as service

    if not yes:
        _confirm_deleting_store(job_id)
    _requeue(service.retry_job, job_id, enqueue, as_json)


def _confirm_deleting_store(job_id: int) -> None:
    """A retry of an extraction deletes the shards its stopped run kept (``resume`` continues
    from them). Asked first, as ``extractions rm`` and the UI's Retry ask; a retry typed for a
    resume lost hours of kept work without a word. Nobody to answer (not a terminal): refused,
    exit 2, saying --yes. A store without a whole shard: nothing to lose, no question. A job
    that cannot be retried (a succeeded one: its complete store) is not asked about: the
    service refuses it, saying what to do instead."""
    from interpstudio.cli.extract import extraction_read
    from interpstudio.cli.extractions import kept_in_store
    from interpstudio.core.paths import DataPaths
    from interpstudio.services import extractions
    from interpstudio.services import jobs as service

    settings = load_settings()
    with session_scope(settings) as session:
        job = job_dict(session, service.get_job(session=session, job_id=job_id))
        owner = job.get("owner") or {}
        if (job["kind"] != "extract" or owner.get("kind") != "extraction"
                or job["state"] not in service.ALLOWED["retry"]):
            return
        extraction = extraction_read(session, DataPaths(settings.data_dir),
                                     extractions.get_extraction(session=session,
                                                                extraction_id=owner["id"]))
    if extraction["store_abs_path"] is None:
        return
    shards, kept = kept_in_store(extraction)
    if shards == 0:  # nothing whole kept: nothing to lose
        return
    what = (f"retrying job {job_id} deletes what its stopped extraction {owner['id']} "
            f"kept ({kept}); `interpstudio jobs resume {job_id}` continues from there instead")
    confirm_or_exit(f"{what[0].upper()}{what[1:]}. Retry from scratch?",
                    no_terminal=f"{what}. The input is not a terminal: pass --yes to retry "
                    "from scratch", declined="nothing retried")


def _requeue(action: Callable[..., Any], job_id: int, enqueue: bool, as_json: bool) -> None:
    """Re-queue the job; unless ``enqueue``, run it in this process and follow it (without a
    server nothing else would: a job resumed after Ctrl-C stayed queued). An extraction's job
    that succeeds ends, as ``extract`` does, with where its store is and how to open it (a
    resumed extraction ended with "job 9 (extract) succeeded" alone)."""
    if enqueue:
        _job_action(action, job_id, as_json)
        return
    settings = load_settings()
    factory = session_factory(settings)
    local = LocalRun(settings, factory)
    with factory.begin() as session:
        action(session=session, job_id=job_id)
        local.claim(session, job_id)  # committed running here: no server's worker takes it
    local.start()
    job = follow_job(factory, job_id, quiet=as_json, with_message=True)
    finish_followed_job(job, as_json, f"job {job_id} ({job['kind']}) succeeded")
    owner = job.get("owner") or {}
    if not as_json and owner.get("kind") == "extraction":
        from interpstudio.cli.extract import extraction_dict, print_how_to_open

        print_how_to_open(settings, extraction_dict(settings, factory, owner["id"]))


@app.command("rm")
def jobs_rm(job_id: int) -> None:
    """Delete a finished job and its working files (the job of a model, dataset, tokenization
    or extraction goes with that record: delete the record)."""
    from interpstudio.core.paths import DataPaths
    from interpstudio.services import jobs as service

    settings = load_settings()
    with session_scope(settings) as session:
        service.delete_job(session=session, job_id=job_id, paths=DataPaths(settings.data_dir))
    console.print(f"deleted job {job_id}")


@selftest_app.command()
def selftest(
    iterations: Annotated[int, typer.Option(min=1)] = 20,
    step_delay: Annotated[float, typer.Option(min=0.0)] = 0.0,
    enqueue: Annotated[bool, typer.Option(help="Only queue it for a server/worker.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Run the diagnostic job (torch, disk, forward passes) and follow its progress."""
    from interpstudio.services import jobs as service

    settings = load_settings()
    factory = session_factory(settings)
    local = LocalRun(settings, factory)
    with factory.begin() as session:
        job_id = service.create_job(session=session, kind="selftest",
                                    params={"iterations": iterations,
                                            "step_delay_s": step_delay}).id
        if not enqueue:  # committed running here: no server's worker takes it
            local.claim(session, job_id)
    if enqueue:  # only queued: print it and leave it to a worker (waiting could be forever)
        _job_action(service.get_job, job_id, as_json)
        return
    local.start()
    job = follow_job(factory, job_id, quiet=as_json)
    summary = ""
    if job["state"] == "succeeded":
        forward = job["result"]["forward"]
        summary = (f"selftest {job_id} succeeded: torch {job['result']['torch']['version']}, "
                   f"disk ok, {forward['passes_per_s']:.1f} passes/s")
    finish_followed_job(job, as_json, summary)
