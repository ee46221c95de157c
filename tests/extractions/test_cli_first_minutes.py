"""The CLI as a researcher new to it meets it, as real subprocesses on the test world: the
extraction's progress in an 80-column terminal (a real pty) and Ctrl-C pressed in it, progress in
a log that is not a terminal, ``jobs resume`` of an extraction saying where its store is, and
``extract --help`` showing its defaults. Found by the first-five-minutes QA."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

from extraction_world import ExtractionWorld
from interpstudio.db.models import Extraction, Job
from interpstudio.ml import open_activations

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def cli_env(world: ExtractionWorld, **extra: str) -> dict[str, str]:
    env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(world.settings.data_dir),
           "INTERPSTUDIO_DATABASE_URL": world.settings.resolved_database_url, **extra}
    for name in ("COLUMNS", "LINES", "FORCE_TERMINAL", "NO_COLOR", "TTY_COMPATIBLE"):
        if name not in extra:
            env.pop(name, None)
    return env


def run_cli(world: ExtractionWorld, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "interpstudio", *args],
                          env=cli_env(world, **extra), capture_output=True, text=True,
                          timeout=300)


def in_a_terminal(world: ExtractionWorld, *args: str, act: Callable[[bytes], bytes | None],
                  columns: int | None = None, timeout: float = 300) -> tuple[str, int, bool]:
    """``interpstudio *args`` on a real pty, as typed in a terminal (``columns`` wide): ``act``
    sees the output so far after every read and may answer once with keys to type (a "y", a
    Ctrl-C). Returns what it printed (ANSI codes removed), its exit code and whether keys were
    typed."""
    argv = [sys.executable, "-m", "interpstudio", *args]
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI on the pty
        os.execve(argv[0], argv, cli_env(world))
    if columns is not None:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    output, typed, deadline = b"", False, time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child is gone
                break
            if not chunk:
                break
            output += chunk
        keys = None if typed else act(output)
        if keys is not None:
            os.write(fd, keys)
            typed = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return ANSI.sub("", output.decode("utf-8", "replace")), os.waitstatus_to_exitcode(status), typed


def newest_extract_job(world: ExtractionWorld) -> Job | None:
    with world.factory() as session:
        return (session.query(Job).filter(Job.kind == "extract").order_by(Job.id.desc())
                .first())


def test_ctrl_c_in_an_80_column_terminal_keeps_the_bar_readable_and_a_valid_partial_store(
    world: ExtractionWorld,
) -> None:
    """In an 80-column terminal the message beside the bar ("0.005 GB captured · 0.000 GB
    written in whole shards · projected bound: compute") cut the description and the count to
    ``j… 2,048/4…``, and the last frame after Ctrl-C to ``j… 3,072/… kept 3,072 rows in 6 whole
    shards · 0.029 GB written; resume to cont…``. Now the message has a line of its own."""
    tokenization_id = world.tokenization(repeat=300)  # 1,500 sequences: seconds at batch 1

    def ctrl_c_once_extracting(_: bytes) -> bytes | None:
        job = newest_extract_job(world)
        running = job is not None and job.stage == "extract" and (job.done or 0) >= 64
        return b"\x03" if running else None  # Ctrl-C, as the terminal sends it

    text, code, pressed = in_a_terminal(
        world, "extract", "--model", str(world.model_id), "--tokenization", str(tokenization_id),
        "--hooks", "blocks.*.resid_post", "--batch-size", "1", "--shard-rows", "32",
        "--device", "cpu", act=ctrl_c_once_extracting, columns=80)
    assert pressed, text[-2000:]
    assert code == 1, text[-2000:]
    job = newest_extract_job(world)
    assert job is not None and job.state == "cancelled"
    assert f"`interpstudio jobs resume {job.id}` continues it" in text
    # and the last line says it too (it did only in the "cancelling" line, above the bar)
    last = text.rstrip().splitlines()[-1]
    assert last == (f"job {job.id} cancelled: cancelled by user (`interpstudio jobs resume "
                    f"{job.id}` continues it)"), text[-1000:]
    # every frame's bar line names the job and its whole count, however long the message
    frames = [f for line in text.splitlines() for f in line.split("\r") if f.startswith("j")]
    assert frames and all(f.startswith(f"job {job.id} ") for f in frames), frames[-3:]
    assert any(f"/{job.total:,.0f} tokens" in f for f in frames), frames[-3:]
    assert "resume" in job.message and job.message.split()[-1] in text  # shown to its end

    with world.factory() as session:
        extraction = session.query(Extraction).filter(Extraction.job_id == job.id).one()
        store = world.settings.data_dir / extraction.path / "store"
    kept = open_activations(store)  # a valid partial store: whole shards only
    assert kept.rows % 32 == 0 and kept.rows < job.total
    assert kept["blocks.1.resid_post"][:].shape == (kept.rows, 64)


def test_progress_in_a_log_that_is_not_a_terminal_is_plain_lines_as_it_goes(
    world: ExtractionWorld,
) -> None:
    """Output that is not a terminal (CI logs, ``| tee``) got the Rich bar drawn once, at the
    end: a long extraction printed nothing while it ran. Now a plain line per stage and per
    tenth of the total, and the outcome."""
    result = run_cli(world, "selftest", "--iterations", "40", "--step-delay", "0.05")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("job ")]
    assert len(lines) >= 2, result.stderr
    assert lines[-1].endswith("(succeeded): 40/40 passes (100%)"), lines
    assert "━" not in result.stderr  # no bar drawn into the log

    tokenization_id = world.tokenization(repeat=4)
    done = run_cli(world, "extract", "--model", str(world.model_id), "--tokenization",
                   str(tokenization_id), "--device", "cpu")
    assert done.returncode == 0, done.stderr
    job = newest_extract_job(world)
    assert job is not None
    assert "━" not in done.stderr
    assert re.search(rf"^job {job.id} \w+ \(succeeded\): ", done.stderr, re.M), done.stderr


def test_extract_enqueue_json_prints_the_queued_extraction_as_json(
    world: ExtractionWorld,
) -> None:
    """``extract --enqueue --json`` printed "queued extraction 1 as job 3; a worker ... will run
    it", not JSON; without --json it says so, and not "complete"."""
    tokenization_id = world.tokenization(repeat=2)
    queued = run_cli(world, "extract", "--model", str(world.model_id), "--tokenization",
                     str(tokenization_id), "--device", "cpu", "--enqueue", "--json")
    assert queued.returncode == 0, queued.stderr
    extraction = json.loads(queued.stdout)
    assert extraction["status"] == "queued" and extraction["job"]["state"] == "queued"
    said = run_cli(world, "extract", "--model", str(world.model_id), "--tokenization",
                   str(tokenization_id), "--hooks", "blocks.0.mlp_out", "--device", "cpu",
                   "--enqueue")
    assert said.returncode == 0, said.stderr
    assert f"as job {extraction['job_id'] + 1}; a worker" in said.stdout
    assert "complete" not in said.stdout


def test_jobs_resume_of_an_extraction_says_where_its_store_is_and_how_to_open_it(
    world: ExtractionWorld,
) -> None:
    """After Ctrl-C the CLI says "`interpstudio jobs resume N` continues it"; that ended with
    "job N (extract) succeeded" alone, without the store's path and the Python lines that
    ``extract`` prints."""
    tokenization_id = world.tokenization(repeat=2)
    queued = run_cli(world, "extract", "--model", str(world.model_id), "--tokenization",
                     str(tokenization_id), "--device", "cpu", "--enqueue")
    assert queued.returncode == 0, queued.stderr
    job = newest_extract_job(world)
    assert job is not None and job.state == "queued"
    assert run_cli(world, "jobs", "cancel", str(job.id)).returncode == 0
    resumed = run_cli(world, "jobs", "resume", str(job.id))
    assert resumed.returncode == 0, resumed.stderr
    with world.factory() as session:
        extraction = session.query(Extraction).filter(Extraction.job_id == job.id).one()
        store = str(world.settings.data_dir / extraction.path / "store")
        rows = extraction.counts["rows"]
    assert f"job {job.id} (extract) succeeded" in resumed.stdout
    assert f"store      {store}\n" in resumed.stdout
    assert f"\nacts = open_activations({store!r})\n" in resumed.stdout
    assert open_activations(store).rows == rows > 0


def test_the_python_lines_extract_prints_run_when_pasted_into_python(
    world: ExtractionWorld, tmp_path: Path,
) -> None:
    """``extract`` and ``demo`` end with "Open it from Python:" and lines to paste; they were
    indented by four spaces, so pasted into ``python`` the first one was an IndentationError,
    and the statistics line read the ``all`` group, whose norms the first position (an attention
    sink) dominates, where the README and the results page use ``non_bos``."""
    done = run_cli(world, "extract", "--model", str(world.model_id), "--tokenization",
                   str(world.tokenization(repeat=2)), "--device", "cpu")
    assert done.returncode == 0, done.stderr
    snippet = done.stdout.split("Open it from Python:\n", 1)[1]
    assert "['non_bos']" in snippet
    script = snippet + "\nprint('shape', x.shape, 'mean norm', round(float(_), 3))\n"
    script = script.replace("acts.stats['hooks']", "_ = acts.stats['hooks']")
    pasted = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert pasted.returncode == 0, pasted.stderr
    assert "shape (" in pasted.stdout and ", 64) mean norm " in pasted.stdout


def test_extract_help_shows_the_tokenization_defaults() -> None:
    """``--max-length`` and ``--mode`` wrote their defaults as "[default: 1024]", which Rich
    took for a markup tag and dropped from ``--help``."""
    env = {**os.environ, "COLUMNS": "250"}
    result = subprocess.run([sys.executable, "-m", "interpstudio", "extract", "--help"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "is used or made [default: 1024]" in result.stdout
    assert "given, as --max-length [default: truncate]" in result.stdout
