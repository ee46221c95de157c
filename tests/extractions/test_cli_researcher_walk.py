"""The CLI walked as a researcher uses it, as real subprocesses on the test world (real SQLite,
real tiny checkpoint, real jobs run by the CLI): a tokenization stopped before ``extract
--dataset`` asks for it again, ``extractions show`` of a run stopped with Ctrl-C (SIGINT), and
options that apply to another mode of the command. Found by the CLI end-to-end QA."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

from extraction_world import ExtractionWorld
from interpstudio.db.models import Extraction, Job, Tokenization
from interpstudio.ml import open_activations

TEXT = "\n".join(f"Line {i} of a small text, with a few more words to tokenize." for i in range(40))


def cli_env(world: ExtractionWorld) -> dict[str, str]:
    env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(world.settings.data_dir),
           "INTERPSTUDIO_DATABASE_URL": world.settings.resolved_database_url, "COLUMNS": "200"}
    env.pop("INTERPSTUDIO_IMPORT_ROOTS", None)
    return env


def run_cli(world: ExtractionWorld, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "interpstudio", *args], env=cli_env(world),
                          capture_output=True, text=True, timeout=300)


def add_text_dataset(world: ExtractionWorld) -> int:
    """A real ``datasets add`` of a .txt file inside the data dir (an import root)."""
    inbox = world.settings.data_dir / "inbox"
    inbox.mkdir(exist_ok=True)
    (inbox / "lines.txt").write_text(TEXT)
    added = run_cli(world, "datasets", "add", str(inbox / "lines.txt"), "--json")
    assert added.returncode == 0, added.stderr
    return int(json.loads(added.stdout)["id"])


def queue_tokenization(world: ExtractionWorld, dataset_id: int, *policy: str) -> int:
    """``datasets tokenize --enqueue`` (no worker runs it): its job id."""
    queued = run_cli(world, "datasets", "tokenize", str(dataset_id), "--model",
                     str(world.model_id), *policy, "--enqueue", "--json")
    assert queued.returncode == 0, queued.stderr
    return int(json.loads(queued.stdout)["job_id"])


def test_extract_dataset_finishes_a_stopped_or_queued_tokenization_instead_of_refusing(
    world: ExtractionWorld,
) -> None:
    """Ctrl-C in ``extract --dataset``'s tokenization step cancels its job; the same command
    again was refused for good: "this dataset is already tokenized with that tokenizer and
    policy (tokenization 6, cancelled); use it, or delete it first" (exit 2). Now it resumes
    that tokenization here and extracts; one only queued (``--enqueue``, no worker) is run
    here too."""
    dataset_id = add_text_dataset(world)
    policy = ("--max-length", "16", "--mode", "pack")
    job_id = queue_tokenization(world, dataset_id, *policy)
    cancelled = run_cli(world, "jobs", "cancel", str(job_id))  # a queued job: cancelled at once
    assert cancelled.returncode == 0, cancelled.stderr
    common = ("extract", "--model", str(world.model_id), "--dataset", str(dataset_id),
              "--hooks", "blocks.0.resid_post", "--device", "cpu")

    again = run_cli(world, *common, *policy)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"(job {job_id}, cancelled)" in again.stdout and "resuming tokenization" in again.stdout
    with world.factory() as session:
        tokenization = session.query(Tokenization).filter(Tokenization.job_id == job_id).one()
        assert tokenization.status == "ready" and session.get(Job, job_id).state == "succeeded"
        extraction = session.query(Extraction).one()
        assert extraction.tokenization_id == tokenization.id
        assert extraction.status == "complete"

    queued_job = queue_tokenization(world, dataset_id, "--max-length", "8")
    queued = run_cli(world, *common, "--max-length", "8", "--dry-run")
    assert queued.returncode == 0, queued.stdout + queued.stderr
    assert "finishing tokenization" in queued.stdout and f"(job {queued_job}, queued)" in (
        queued.stdout)
    with world.factory() as session:
        assert session.get(Job, queued_job).state == "succeeded"


def test_extractions_show_of_a_run_stopped_with_ctrl_c_says_what_its_store_keeps(
    world: ExtractionWorld,
) -> None:
    """``extractions show`` of a run stopped with 1,024 rows in 2 shards said "counts: 0 rows,
    tokens, 0 sequences, 0 shard(s)," (the row's counts are written when a run completes)."""
    tokenization_id = world.tokenization(repeat=300)  # 1,500 sequences: seconds at batch 1
    run = subprocess.Popen(
        [sys.executable, "-m", "interpstudio", "extract", "--model", str(world.model_id),
         "--tokenization", str(tokenization_id), "--hooks", "blocks.*.resid_post",
         "--batch-size", "1", "--shard-rows", "32", "--device", "cpu"],
        env=cli_env(world), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    journal = world.settings.data_dir / "extractions" / "1" / "store" / "shards.jsonl"
    deadline = time.monotonic() + 240
    while not (journal.is_file() and journal.read_text().count("\n") >= 2):
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)  # Ctrl-C, as a terminal sends it to the process
    out, err = run.communicate(timeout=120)
    assert run.returncode == 1, out + err
    with world.factory() as session:
        extraction = session.get(Extraction, 1)
        assert extraction.status == "cancelled"
        total = extraction.counts["tokens_total"]
    kept = open_activations(world.settings.data_dir / "extractions" / "1" / "store")
    assert 0 < kept.rows < total

    shown = run_cli(world, "extractions", "show", "1")
    assert shown.returncode == 0, shown.stderr
    shards = len(journal.read_text().splitlines())
    assert (f"kept         │ {kept.rows:,} rows, {kept.rows:,} of {total:,} tokens, "
            f"{len({int(s) for s in kept.tokens[:, 1]}):,} sequences, {shards} whole shard(s)"
            ) in shown.stdout, shown.stdout
    # no "0 rows" line beside it ("480 rows" is not one: a digit or comma before the 0)
    assert not re.search(r"(?<![\d,])0 rows", shown.stdout), shown.stdout
    assert "(a partial store)" in shown.stdout
    # the listing too: it showed no tokens and no store size for it
    listed = run_cli(world, "extractions", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"│ {kept.rows:,}/{total:,} │ cancelled │ " in listed.stdout, listed.stdout

    # a retry (typed for a resume) would delete those shards: asked first; with nobody to ask,
    # refused (it deleted them without a word)
    with world.factory() as session:
        job_id = session.get(Extraction, 1).job_id
    retried = run_cli(world, "jobs", "retry", str(job_id))
    said = " ".join(retried.stderr.split())
    assert retried.returncode == 2, said
    assert (f"retrying job {job_id} deletes what its stopped extraction 1 kept ({kept.rows:,} "
            f"rows," in said and f"`interpstudio jobs resume {job_id}` continues" in said
            and "pass --yes" in said), said
    assert open_activations(world.settings.data_dir / "extractions" / "1" / "store").rows == (
        kept.rows)


def test_extract_refuses_dataset_only_options_with_a_tokenization(world: ExtractionWorld) -> None:
    """``--max-length`` / ``--mode`` pick or make the tokenization of ``--dataset``; with
    ``--tokenization`` they were silently ignored (the run used that tokenization's own policy,
    not the length asked for)."""
    tokenization_id = world.tokenization()
    for option in (("--max-length", "64"), ("--mode", "pack")):
        result = run_cli(world, "extract", "--model", str(world.model_id), "--tokenization",
                         str(tokenization_id), *option, "--dry-run")
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"{option[0]} applies only with --dataset" in result.stderr
        assert "preflight" not in result.stderr and "Traceback" not in result.stderr
    with world.factory() as session:
        assert session.query(Extraction).count() == 0


def test_datasets_tokenize_again_after_a_stop_says_how_to_continue_it(
    world: ExtractionWorld,
) -> None:
    """After Ctrl-C in ``datasets tokenize`` the same command again was refused with "use it,
    or delete it first" only: a stopped tokenization cannot be used, and nothing named the
    command that continues it. The refusal now names it, and that command finishes it."""
    dataset_id = add_text_dataset(world)
    job_id = queue_tokenization(world, dataset_id, "--max-length", "16")
    assert run_cli(world, "jobs", "cancel", str(job_id)).returncode == 0

    again = run_cli(world, "datasets", "tokenize", str(dataset_id), "--model",
                    str(world.model_id), "--max-length", "16")
    assert again.returncode == 2, again.stdout + again.stderr
    said = " ".join(again.stderr.split())  # as one line (Rich wraps at the width)
    assert f"its job {job_id} is cancelled: `interpstudio jobs resume {job_id}` continues it" in (
        said), said
    resumed = run_cli(world, "jobs", "resume", str(job_id))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    with world.factory() as session:
        assert session.query(Tokenization).filter(Tokenization.job_id == job_id).one().status == (
            "ready")


def test_export_names_its_options_as_the_cli_takes_them(world: ExtractionWorld) -> None:
    """``interpstudio export`` of a store whose sequences differ in length said "pass
    context_size=N" (the library's argument; the command's option is ``--context-size``), and
    its warnings named "context_size" too."""
    tokenization_id = world.tokenization()  # five quotes of different lengths
    done = run_cli(world, "extract", "--model", str(world.model_id), "--tokenization",
                   str(tokenization_id), "--hooks", "blocks.0.resid_post", "--device", "cpu",
                   "--json")
    assert done.returncode == 0, done.stderr
    extraction_id = str(json.loads(done.stdout)["id"])

    refused = run_cli(world, "export", extraction_id)
    said = " ".join(refused.stderr.split())
    assert refused.returncode == 2 and "pass --context-size N to pack" in said, said
    assert "context_size" not in said
    packed = run_cli(world, "export", extraction_id, "--context-size", "4")
    said = " ".join(packed.stderr.split())
    assert packed.returncode == 0 and "(--context-size 4 packs the token stream" in said, said
    assert "context_size" not in said


def test_jobs_cancel_of_a_running_job_says_the_cancel_is_requested(world: ExtractionWorld) -> None:
    """``jobs cancel`` of a running job printed its row, state "running", and nothing else, as
    if the cancel had not been taken; the job stops at its next check, which the line says."""
    run = subprocess.Popen([sys.executable, "-m", "interpstudio", "selftest", "--iterations",
                            "200", "--step-delay", "0.2"], env=cli_env(world),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while True:
        with world.factory() as session:
            job = session.query(Job).filter(Job.kind == "selftest").one_or_none()
            if job is not None and job.state == "running" and (job.done or 0) >= 1:
                job_id = job.id
                break
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.1)
    cancelled = run_cli(world, "jobs", "cancel", str(job_id))
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"cancel requested: job {job_id} stops at its next check" in cancelled.stdout
    out, err = run.communicate(timeout=120)
    assert run.returncode == 1 and f"job {job_id} cancelled" in err, out + err


def test_jobs_retry_of_a_complete_extraction_is_refused_and_keeps_its_store(
    world: ExtractionWorld,
) -> None:
    """``jobs retry`` of a complete extraction's job deleted its store and computed the same
    again (asked first since a tester found it silent; a browser walk found the UI offered it
    too). A retry is for a stopped run: refused, with or without --yes, saying how to compute
    it again on purpose; nothing asked, the store untouched."""
    tokenization_id = world.tokenization()
    done = run_cli(world, "extract", "--model", str(world.model_id), "--tokenization",
                   str(tokenization_id), "--hooks", "blocks.0.resid_post", "--device", "cpu",
                   "--json")
    assert done.returncode == 0, done.stderr
    extraction = json.loads(done.stdout)
    job_id = str(extraction["job_id"])
    store = world.settings.data_dir / extraction["path"] / "store"
    made = (store / "manifest.json").read_bytes()

    for yes in ([], ["--yes"]):
        refused = run_cli(world, "jobs", "retry", job_id, *yes)
        said = " ".join(refused.stderr.split())
        assert refused.returncode == 2, said  # an AppError, as every refusal
        assert (f"cannot retry job {job_id}: it succeeded" in said
                and f"delete extraction {extraction['id']} and create it anew" in said), said
        assert "pass --yes" not in said  # nothing to confirm: it is refused
        assert (store / "manifest.json").read_bytes() == made  # untouched


def test_a_dataset_whose_import_stopped_is_not_said_to_be_finishing(world: ExtractionWorld) -> None:
    """A dataset whose import was cancelled (or failed) was refused by ``preview``, ``tokenize``
    and ``extract --dataset`` with "its rows can be previewed or tokenized once its import has
    finished", which it never does by itself; the refusal now says what to do, and resuming
    the import job does it."""
    inbox = world.settings.data_dir / "inbox"
    inbox.mkdir(exist_ok=True)
    (inbox / "lines.txt").write_text(TEXT)
    queued = run_cli(world, "datasets", "add", str(inbox / "lines.txt"), "--enqueue", "--json")
    assert queued.returncode == 0, queued.stderr
    dataset = json.loads(queued.stdout)
    assert run_cli(world, "jobs", "cancel", str(dataset["job_id"])).returncode == 0

    for args in (("datasets", "preview", str(dataset["id"])),
                 ("extract", "--model", str(world.model_id), "--dataset", str(dataset["id"]))):
        refused = run_cli(world, *args)
        said = " ".join(refused.stderr.split())
        assert refused.returncode == 2, said
        assert (f"dataset {dataset['id']} is cancelled: its import stopped, so it has no rows to "
                "preview or tokenize; resume its import job" in said), said
    resumed = run_cli(world, "jobs", "resume", str(dataset["job_id"]))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert run_cli(world, "datasets", "preview", str(dataset["id"])).returncode == 0
