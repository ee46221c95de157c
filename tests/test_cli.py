"""The `interpstudio` CLI run as a real subprocess: selftest with JSON output, jobs commands,
and invalid settings stopping with the variable's name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import wait_for


def run_cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(tmp_path / "data"), **(env or {})}
    result = subprocess.run([sys.executable, "-m", "interpstudio", *args], env=full_env,
                            capture_output=True, text=True, timeout=180)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_selftest_runs_and_jobs_commands_show_it(tmp_path: Path) -> None:
    result = json.loads(run_cli(tmp_path, "selftest", "--iterations", "3", "--json").stdout)
    assert result["state"] == "succeeded" and result["result"]["forward"]["passes"] == 3
    listing = json.loads(run_cli(tmp_path, "jobs", "list", "--json").stdout)
    assert listing["total"] == 1 and listing["items"][0]["id"] == result["id"]
    shown = json.loads(run_cli(tmp_path, "jobs", "show", str(result["id"]), "--json").stdout)
    assert shown["state"] == "succeeded"
    retried = json.loads(run_cli(tmp_path, "jobs", "retry", str(result["id"]), "--enqueue",
                                 "--json").stdout)
    assert retried["state"] == "queued"
    cancelled = json.loads(run_cli(tmp_path, "jobs", "cancel", str(result["id"]), "--json").stdout)
    assert cancelled["state"] == "cancelled"
    resumed = json.loads(run_cli(tmp_path, "jobs", "resume", str(result["id"]), "--enqueue",
                                 "--json").stdout)
    assert resumed["state"] == "queued"
    table = run_cli(tmp_path, "jobs", "list").stdout
    assert "selftest" in table


def test_selftest_enqueue_only_queues_it(tmp_path: Path) -> None:
    """Found by a tester: ``selftest --enqueue`` ("only queue it for a server/worker") followed
    the job until it ended, so without a worker it never returned."""
    queued = json.loads(run_cli(tmp_path, "selftest", "--enqueue", "--json").stdout)
    assert queued["state"] == "queued" and queued["kind"] == "selftest"
    assert "queued" in run_cli(tmp_path, "selftest", "--enqueue").stdout


def test_a_job_whose_command_was_killed_resumes_from_the_cli_alone(tmp_path: Path) -> None:
    """Found by a tester: after kill -9 of the command running it, the job stayed "running"
    (no server, no worker: nothing swept it), so `jobs resume` refused it and `jobs cancel` did
    nothing; and `jobs resume` (the hint Ctrl-C prints) only queued the job, which then sat
    queued. Now every command sweeps the jobs of dead workers first, and `jobs resume` runs the
    job here, following it, unless --enqueue."""
    env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(tmp_path / "data")}
    run_cli(tmp_path, "jobs", "list")  # the database made first: two first commands at once race
    log = (tmp_path / "selftest.log").open("w")
    running = subprocess.Popen(
        [sys.executable, "-m", "interpstudio", "selftest", "--iterations", "400",
         "--step-delay", "0.05", "--json"], env=env, stdout=log, stderr=log)
    try:
        job = wait_for(lambda: [j for j in json.loads(run_cli(
            tmp_path, "jobs", "list", "--json").stdout)["items"] if (j["done"] or 0) >= 5],
            timeout=120, interval=0.5)[0]
    finally:
        running.kill()
        running.wait()
        log.close()
    shown = json.loads(run_cli(tmp_path, "jobs", "show", str(job["id"]), "--json").stdout)
    assert shown["state"] == "interrupted", shown
    resumed = json.loads(run_cli(tmp_path, "jobs", "resume", str(job["id"]), "--json").stdout)
    assert resumed["state"] == "succeeded" and resumed["done"] == 400


def test_selftest_progress_bar_renders_without_json(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "selftest", "--iterations", "3")
    assert "succeeded" in result.stdout
    assert "Traceback" not in result.stderr


def test_unknown_job_and_wrong_state_are_clear_errors(tmp_path: Path) -> None:
    missing = run_cli(tmp_path, "jobs", "show", "99", check=False)
    assert missing.returncode == 2 and "job 99 does not exist" in missing.stderr


@pytest.mark.parametrize(("variable", "value"), [("INTERPSTUDIO_PORT", "abc"),
                                                 ("INTERPSTUDIO_HOST", "0.0.0.0")])
def test_invalid_settings_stop_with_the_variable_name(tmp_path: Path, variable: str,
                                                      value: str) -> None:
    result = run_cli(tmp_path, "jobs", "list", env={variable: value}, check=False)
    assert result.returncode == 2
    expected = "INTERPSTUDIO_API_KEY" if variable == "INTERPSTUDIO_HOST" else variable
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("url", ["postgresql+psycopg://nobody@127.0.0.1:1/none",
                                 "postgresql+psycopg://postgres@127.0.0.1:5432/no_such_db_x"])
def test_a_database_it_cannot_use_is_one_line_not_a_traceback(tmp_path: Path, url: str) -> None:
    """Found by the scale-out tester: ~130 lines of SQLAlchemy traceback (serve, worker, jobs)."""
    for command in (["jobs", "list"], ["serve", "--port", "1"], ["worker"]):
        result = run_cli(tmp_path, *command, env={"INTERPSTUDIO_DATABASE_URL": url}, check=False)
        assert result.returncode == 2, command
        assert "cannot use the database" in result.stderr and "INTERPSTUDIO_DATABASE_URL" in (
            result.stderr)
        assert "Traceback" not in result.stderr


def test_a_worker_binds_nothing_so_the_apis_host_rule_is_not_its_own(tmp_path: Path) -> None:
    """A GPU box sharing the API's env file (INTERPSTUDIO_HOST=0.0.0.0, the key kept on the API
    host) could not start a worker: it binds no port."""
    env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(tmp_path / "data"),
           "INTERPSTUDIO_HOST": "0.0.0.0"}
    worker = subprocess.Popen([sys.executable, "-m", "interpstudio", "worker"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = worker.stdout.readline()  # type: ignore[union-attr]
        assert " started (kinds: " in line, line
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def test_openapi_command_prints_the_schema(tmp_path: Path) -> None:
    schema = json.loads(run_cli(tmp_path, "openapi").stdout)
    assert "/api/v1/jobs" in schema["paths"] and "/api/v1/system" in schema["paths"]


def test_an_id_the_database_cannot_hold_is_a_clear_error(tmp_path: Path,
                                                         postgres_url: str) -> None:
    """Noticed beside a tester's API finding: on PostgreSQL an id past 2**31 - 1 was a
    traceback from the CLI (psycopg's NumericValueOutOfRange); now an error and exit 2."""
    env = {"INTERPSTUDIO_DATABASE_URL": postgres_url}
    result = run_cli(tmp_path, "jobs", "show", "3000000000", env=env, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "refused a value" in result.stderr


def test_list_filters_and_pages_refuse_what_the_api_refuses(tmp_path: Path) -> None:
    """Found by a tester: ``--state runing`` listed nothing with exit 0 (as if nothing ran), a
    negative ``--limit`` listed everything, and ``datasets preview --offset -1`` printed the last
    rows numbered -1."""
    for args, named in ((["jobs", "list", "--state", "runing"], "succeeded"),
                        (["jobs", "list", "--kind", "extrac"], "extract"),
                        (["models", "list", "--status", "redy"], "ready"),
                        (["jobs", "list", "--limit", "-1"], "--limit"),
                        (["datasets", "list", "--limit", "0"], "--limit"),
                        (["datasets", "preview", "1", "--offset", "-1"], "--offset")):
        result = run_cli(tmp_path, *args, check=False)
        assert result.returncode == 2, (args, result.stdout)
        assert named in result.stderr and "Traceback" not in result.stderr, args
    listed = run_cli(tmp_path, "jobs", "list", "--state", "running", "--kind", "extract",
                     "--json")
    assert json.loads(listed.stdout)["total"] == 0
