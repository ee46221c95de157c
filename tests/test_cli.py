"""The `interpstudio` CLI run as a real subprocess: selftest with JSON output, jobs commands,
and invalid settings stopping with the variable's name."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import wait_for
from interpstudio.core.settings import Settings


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
    # a succeeded job is not retried (that is for a stopped one): a new selftest runs again
    refused = run_cli(tmp_path, "jobs", "retry", str(result["id"]), "--enqueue", check=False)
    assert refused.returncode != 0 and "start a new selftest job" in refused.stderr
    queued = json.loads(run_cli(tmp_path, "selftest", "--enqueue", "--json").stdout)
    cancelled = json.loads(run_cli(tmp_path, "jobs", "cancel", str(queued["id"]), "--json").stdout)
    assert cancelled["state"] == "cancelled"
    retried = json.loads(run_cli(tmp_path, "jobs", "retry", str(queued["id"]), "--enqueue",
                                 "--json").stdout)
    assert retried["state"] == "queued"
    run_cli(tmp_path, "jobs", "cancel", str(queued["id"]), "--json")
    resumed = json.loads(run_cli(tmp_path, "jobs", "resume", str(queued["id"]), "--enqueue",
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


def test_jobs_list_by_extraction_shows_its_run_and_exports_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``jobs list --extraction N``: the API's ``extraction_id`` filter from the CLI (it had
    only ``--state`` and ``--kind``); an id no extraction can have is refused."""
    from interpstudio.cli.common import load_settings, session_scope
    from interpstudio.services import jobs as service

    run_cli(tmp_path, "jobs", "list")  # the database, made by the CLI
    monkeypatch.setenv("INTERPSTUDIO_DATA_DIR", str(tmp_path / "data"))
    with session_scope(load_settings()) as session:
        ids = {(kind, extraction): service.create_job(
                   session=session, kind=kind, params={"extraction_id": extraction}).id
               for kind in ("extract", "extraction_export") for extraction in (3, 30)}
    listed = json.loads(run_cli(tmp_path, "jobs", "list", "--extraction", "3", "--json").stdout)
    assert listed["total"] == 2 and [j["id"] for j in listed["items"]] == [
        ids["extraction_export", 3], ids["extract", 3]]
    exports = json.loads(run_cli(tmp_path, "jobs", "list", "--extraction", "30", "--kind",
                                 "extraction_export", "--json").stdout)
    assert [j["id"] for j in exports["items"]] == [ids["extraction_export", 30]]
    refused = run_cli(tmp_path, "jobs", "list", "--extraction", "0", check=False)
    assert refused.returncode == 2 and "--extraction" in refused.stderr


def cells(table: str, column: int, joiner: str = "") -> str:
    """A table's column's text, its wrapped lines joined (one row in the table)."""
    lines = [line for line in table.splitlines() if line.startswith("│")]
    return joiner.join(line.split("│")[column + 1].strip() for line in lines)


def headers(table: str) -> list[str]:
    """A table's column headers (each on one line)."""
    line = next(line for line in table.splitlines() if line.startswith("┃"))
    return [cell.strip() for cell in line.strip("┃").split("┃")]


def test_models_list_at_80_columns_never_cuts_a_name(tmp_path: Path,
                                                      sqlite_settings: Settings) -> None:
    """Found by a tester: at 80 columns ``models list`` cut a repo id to ``meta-…`` (and the
    params and fidelity to ``8,030,…`` and ``1.0e-…``). The name now wraps whole, and the least
    telling columns are left out, said under the table; ``models show`` has every field."""
    from interpstudio.db.base import utcnow
    from interpstudio.db.models import Model
    from interpstudio.db.session import make_engine, make_session_factory

    name = "meta-llama-research-org/Llama-3.1-8B-Instruct-abliterated-GGUF-q4"
    factory = make_session_factory(make_engine(sqlite_settings.resolved_database_url))
    with factory.begin() as session:
        model = Model(key=f"{name}@0123abc", name=name, source="hub", status="ready",
                      path="models/1", n_layers=32, d_model=4096, param_count=8_030_261_248,
                      disk_bytes=16_000_000_000, precision_requested="q4", precision_used="q4",
                      fidelity={"exact": True, "max_abs": 1e-6, "precision": "fp32"},
                      info={"drift": {"q4": {"min_layer_cosine": 0.981}}}, updated_at=utcnow())
        session.add(model)
        session.flush()
        model_id = model.id
    env = {"INTERPSTUDIO_DATA_DIR": str(sqlite_settings.data_dir),
           "INTERPSTUDIO_DATABASE_URL": sqlite_settings.resolved_database_url, "COLUMNS": "80"}

    listed = run_cli(tmp_path, "models", "list", env=env).stdout
    assert max(len(line) for line in listed.splitlines()) <= 80, listed
    assert "…" not in listed and cells(listed, 1) == name, listed
    assert cells(listed, 0) == str(model_id) and cells(listed, 2) == "ready"
    assert cells(listed, 4, " ") == "fp32 exact 1.0e-06; q4 cos 0.981"  # wrapped, not cut
    said = " ".join(listed.split())
    assert "(d_model, layers, params, disk left out at 80 columns: `interpstudio models show " \
           "ID` shows them)" in said
    shown = run_cli(tmp_path, "models", "show", str(model_id), env=env).stdout
    fields: dict[str, str] = {}  # one field a row, its value's wrapped lines joined
    field = ""
    for line in shown.splitlines():
        if line.startswith("│"):
            _, label, value, _ = line.split("│")
            field = label.strip() or field
            fields[field] = fields.get(field, "") + value.strip()
    assert "…" not in shown and fields["key"] == f"{name}@0123abc", shown
    assert {k: fields[k] for k in ("name", "params", "layers", "d_model", "disk")} == {
        "name": name, "params": "8,030,261,248", "layers": "32", "d_model": "4096",
        "disk": "16.0 GB"}
    wide = run_cli(tmp_path, "models", "list", env={**env, "COLUMNS": "200"}).stdout
    assert name in wide and "left out" not in wide  # room for every column: nothing left out


def _unspaced(text: str) -> str:
    """Text without its spaces: a folded cell's lines break between words or inside one."""
    return "".join(text.split())


LONG_ERROR = ("the hub answered 403 for meta-llama-research-org/Llama-3.1-8B-Instruct: "
              "accept the licence on its page, then give a token with read access")


def test_jobs_list_at_80_columns_never_cuts_an_error(tmp_path: Path,
                                                     sqlite_settings: Settings) -> None:
    """At 80 columns ``jobs list`` (and ``jobs show``) cut a failed job's error to a few words
    and "…". It now folds whole; the rate, ETA, stage and progress make room, said under it."""
    from interpstudio.db.models import Job
    from interpstudio.db.session import make_engine, make_session_factory

    factory = make_session_factory(make_engine(sqlite_settings.resolved_database_url))
    with factory.begin() as session:
        job = Job(kind="extraction_export", state="failed", stage="assemble", progress=0.42,
                  rate=1234.5, unit="rows", eta_s=600, error_message=LONG_ERROR)
        session.add(job)
        session.flush()
        job_id = job.id
    env = {"INTERPSTUDIO_DATA_DIR": str(sqlite_settings.data_dir),
           "INTERPSTUDIO_DATABASE_URL": sqlite_settings.resolved_database_url, "COLUMNS": "80"}
    for command in (["jobs", "list"], ["jobs", "show", str(job_id)]):
        table = run_cli(tmp_path, *command, env=env).stdout
        assert max(len(line) for line in table.splitlines()) <= 80, table
        assert "…" not in table, table
        shown = headers(table)
        assert _unspaced(cells(table, shown.index("error"))) == _unspaced(LONG_ERROR), table
        assert cells(table, shown.index("kind")) == "extraction_export"
        left_out = [h for h in ("rate", "ETA", "took", "stage", "progress") if h not in shown]
        assert left_out and f"({', '.join(left_out)} left out at 80 columns: --json shows " \
            "them)" in " ".join(table.split()), table
    wide = run_cli(tmp_path, "jobs", "list", env={**env, "COLUMNS": "250"}).stdout
    assert "1234.5 rows/s" in wide and "left out" not in wide


def test_datasets_list_at_80_columns_never_cuts_a_name_or_error(
        tmp_path: Path, sqlite_settings: Settings) -> None:
    """At 80 columns ``datasets list`` cut a hub dataset's name and its error with "…", and
    ``datasets show`` its tokenizations' tokenizer key. Each now folds whole, and the least
    telling columns are left out, said under the table."""
    from interpstudio.db.models import Dataset, Tokenization
    from interpstudio.db.session import make_engine, make_session_factory

    name = "HuggingFaceFW/fineweb-edu-score-2-sample-10BT-deduplicated:train"
    key = "meta-llama-research-org/Llama-3.1-8B-Instruct@0123456789abcdef0123456789abcdef"
    factory = make_session_factory(make_engine(sqlite_settings.resolved_database_url))
    with factory.begin() as session:
        dataset = Dataset(name=name, source="hub", status="failed", rows=9_672_101,
                          bytes=27_123_456_789, text_column="text", error_message=LONG_ERROR)
        session.add(dataset)
        session.flush()
        session.add(Tokenization(dataset_id=dataset.id, tokenizer_key=key, policy_hash="0" * 64,
                                 policy={"max_length": 1024, "mode": "truncate",
                                         "add_bos": True},
                                 counts={"sequences": 9_672_101, "tokens": 10_123_456_789,
                                         "truncated_sequences": 123_456,
                                         "dropped_rows": 1_234}))
        dataset_id = dataset.id
    env = {"INTERPSTUDIO_DATA_DIR": str(sqlite_settings.data_dir),
           "INTERPSTUDIO_DATABASE_URL": sqlite_settings.resolved_database_url, "COLUMNS": "80"}
    table = run_cli(tmp_path, "datasets", "list", env=env).stdout
    assert max(len(line) for line in table.splitlines()) <= 80, table
    assert "…" not in table, table
    shown = headers(table)
    assert cells(table, shown.index("name")) == name, table
    assert _unspaced(cells(table, shown.index("error"))) == _unspaced(LONG_ERROR), table
    assert "left out at 80 columns: --json shows them)" in " ".join(table.split()), table
    wide = run_cli(tmp_path, "datasets", "list", env={**env, "COLUMNS": "300"}).stdout
    assert "27,123,456,789" in wide and "left out" not in wide
    shown = run_cli(tmp_path, "datasets", "show", str(dataset_id), env=env).stdout
    tokenizations = shown[shown.rindex("┏"):]  # the last table
    assert max(len(line) for line in shown.splitlines()) <= 80, shown
    assert "…" not in shown, shown
    assert cells(tokenizations, headers(tokenizations).index("tokenizer")) == key, shown


def test_a_failed_job_is_said_once(tmp_path: Path, sqlite_settings: Settings) -> None:
    """Found by a tester: a job that failed in a command was said twice, the command's line and
    the runner's log warning (meant for a worker's log), which Python's last-resort handler
    wrote to stderr as the CLI configures no logging."""
    from interpstudio.db.session import make_engine, make_session_factory
    from interpstudio.services import jobs as service

    factory = make_session_factory(make_engine(sqlite_settings.resolved_database_url))
    with factory.begin() as session:  # a selftest told to fail, cancelled before it ran
        job_id = service.create_job(session=session, kind="selftest",
                                    params={"iterations": 3, "fail_at": 2}).id
    with factory.begin() as session:
        service.cancel_job(session=session, job_id=job_id, paths=None)  # holds no token
    env = {"INTERPSTUDIO_DATA_DIR": str(sqlite_settings.data_dir),
           "INTERPSTUDIO_DATABASE_URL": sqlite_settings.resolved_database_url}
    result = run_cli(tmp_path, "jobs", "retry", str(job_id), env=env, check=False)
    assert result.returncode == 1, result.stderr
    said = " ".join(result.stderr.split())
    assert said.count("deliberate failure at iteration 2") == 1, result.stderr
    assert (f"job {job_id} failed: deliberate failure at iteration 2 (fail_at was set)"
            in said)


@pytest.mark.parametrize("kind", ["extract", "tokenize"])
def test_a_stopped_resumable_job_ends_naming_the_command_that_continues_it(
        kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C in ``datasets tokenize`` ended with "job 5 cancelled" only, though the tokenize
    job keeps its rows and ``jobs resume`` continues after them (extract's said so)."""
    import typer

    from interpstudio.cli.common import finish_followed_job

    job = {"id": 5, "kind": kind, "state": "cancelled", "has_checkpoint": True,
           "error_message": "cancelled by the user"}
    with pytest.raises(typer.Exit):
        finish_followed_job(job, False, "")
    said = " ".join(capsys.readouterr().err.split())
    assert "job 5 cancelled: cancelled by the user (`interpstudio jobs resume 5` continues it)" in (
        said), said


@pytest.mark.parametrize("command", ["add", "upload"])
def test_datasets_help_shows_the_record_size_default(tmp_path: Path, command: str) -> None:
    """Walking the README ("--max-record-bytes N ... 64 MiB"): ``--max-record-bytes`` wrote its
    default as "[default: 64 MiB, 67,108,864]", which Rich took for a markup tag and dropped,
    leaving "is refused ; 1,024 to 2**31." in ``--help``."""
    result = run_cli(tmp_path, "datasets", command, "--help", env={"COLUMNS": "250"})
    assert "is refused [default: 64 MiB, 67,108,864]; 1,024" in result.stdout


def test_no_option_help_holds_an_unescaped_markup_tag() -> None:
    """Every option's help is printed through Rich markup, where "[word...]" is a tag, dropped
    from ``--help`` (``[default: ...]`` twice so far): a literal bracket is escaped, "\\[" ."""
    import typer

    from interpstudio.cli import app

    def tags(command: Any, path: str) -> Iterator[str]:
        for name, sub in getattr(command, "commands", {}).items():
            yield from tags(sub, f"{path} {name}")
        for text in [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]:
            yield from (f"{path}: {m}" for m in re.findall(r"(?<!\\)\[[A-Za-z#/@][^\]]*\]", text))

    assert list(tags(typer.main.get_command(app), "interpstudio")) == []


def test_an_empty_listing_says_so_in_words(tmp_path: Path) -> None:
    """Found walking the README: ``extractions list --search`` matching nothing printed a table
    of headers only, which reads as a failure. Each ``list`` says none yet, none matching its
    filters, or none past its ``--offset``; ``--json`` stays ``{"items": [], "total": 0}``."""
    said = {args: " ".join(run_cli(tmp_path, *args).stdout.split()) for args in (
        ("models", "list"), ("datasets", "list"), ("extractions", "list"),
        ("extractions", "list", "--search", "nothing-like-it"),
        ("jobs", "list", "--state", "failed"))}
    assert said == {("models", "list"): "no models yet",
                    ("datasets", "list"): "no datasets yet",
                    ("extractions", "list"): "no extractions yet",
                    ("extractions", "list", "--search", "nothing-like-it"):
                        "no extractions match these filters",
                    ("jobs", "list", "--state", "failed"): "no jobs match these filters"}
    job = json.loads(run_cli(tmp_path, "selftest", "--iterations", "1", "--json").stdout)
    assert job["state"] == "succeeded"
    assert " ".join(run_cli(tmp_path, "jobs", "list", "--state", "failed").stdout.split()) == (
        "no jobs match these filters")
    listing = json.loads(run_cli(tmp_path, "extractions", "list", "--json").stdout)
    assert listing == {"items": [], "total": 0}


def test_a_listing_past_its_last_page_says_how_many_there_are(
        capsys: pytest.CaptureFixture[str]) -> None:
    from interpstudio.cli.common import print_listing

    print_listing([], 3, as_json=False, table=lambda items: None, what="extractions", offset=50)
    assert " ".join(capsys.readouterr().out.split()) == (
        "no extractions past --offset 50: 3 in all; a smaller --offset shows them")
