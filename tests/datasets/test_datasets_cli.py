"""``interpstudio datasets ...`` in a subprocess against a real data dir (and, for ``upload``, a
real HTTP server): add (local, bundled, hub), list, show, preview, tokenize, rm with its 409."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dataset_helpers import register_model_row

from helpers import make_settings, uvicorn_in_thread
from hub_server import HubServer
from interpstudio.core.settings import Settings


def _cli(settings: Settings, *args: str, check: bool = True, env: dict[str, str] | None = None,
         group: str = "datasets") -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(settings.data_dir),
                "INTERPSTUDIO_DATABASE_URL": settings.resolved_database_url,
                "INTERPSTUDIO_HF_ENDPOINT": settings.hf_endpoint,
                "INTERPSTUDIO_IMPORT_ROOTS": json.dumps([str(p) for p in settings.import_roots]),
                "COLUMNS": "200", **(env or {})}
    result = subprocess.run([sys.executable, "-m", "interpstudio", group, *args],
                            env=full_env, capture_output=True, text=True, timeout=180)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)


def test_add_list_show_preview_tokenize_rm(ds_settings: Settings, import_root: Path,
                                           hub: HubServer, tiny_dataset_dir: Path,
                                           tiny_llama_dir: Path) -> None:
    (import_root / "a.csv").write_text("id,body\n1,first text\n2,second text\n")
    local = _json(_cli(ds_settings, "add", str(import_root / "a.csv"), "--json"))
    assert local["status"] == "ready" and local["rows"] == 2 and local["text_column"] == "body"
    bundled = _json(_cli(ds_settings, "add", "--bundled", "--name", "play", "--json"))
    assert bundled["status"] == "ready" and bundled["name"] == "play"
    # its import job cannot be deleted alone (the dataset would point at nothing) ...
    kept = _cli(ds_settings, "rm", str(bundled["job_id"]), group="jobs", check=False)
    assert kept.returncode == 2 and f"belongs to dataset {bundled['id']}" in kept.stderr
    # ... and adding it again is the same dataset, ready, nothing to follow
    again = _json(_cli(ds_settings, "add", "--bundled", "--json"))
    assert again["id"] == bundled["id"] and again["status"] == "ready"
    hub.add_dataset("org/tiny-ds", tiny_dataset_dir)
    from_hub = _json(_cli(ds_settings, "add", "--hub", "org/tiny-ds", "--json"))
    assert from_hub["status"] == "ready" and from_hub["rows"] == 300

    listed = _json(_cli(ds_settings, "list", "--json"))
    assert listed["total"] == 3
    table = _cli(ds_settings, "show", str(local["id"])).stdout
    assert "first" not in table and "sha256" in table and "characters" in table
    page = _json(_cli(ds_settings, "preview", str(local["id"]), "--offset", "1", "--json"))
    assert page["items"] == [{"row": 1, "text": "second text"}]

    model_id = register_model_row(ds_settings, tiny_llama_dir)
    tokenized = _json(_cli(ds_settings, "tokenize", str(bundled["id"]), "--model",
                           str(model_id), "--max-length", "32", "--mode", "pack", "--json"))
    assert tokenized["status"] == "ready" and tokenized["policy"]["add_bos"] is True
    assert set(tokenized["stats"]["sequence_lengths"]["histogram"][0].values()) >= {32}

    refused = _cli(ds_settings, "rm", str(bundled["id"]), check=False)
    assert refused.returncode == 2 and "tokenization" in refused.stdout + refused.stderr
    unconfirmed = _cli(ds_settings, "rm", str(bundled["id"]), "--force", check=False)
    assert unconfirmed.returncode == 2 and "pass --yes" in unconfirmed.stderr  # no terminal
    _cli(ds_settings, "rm", str(bundled["id"]), "--force", "--yes")
    assert _json(_cli(ds_settings, "list", "--json"))["total"] == 2
    unknown = _cli(ds_settings, "add", "--hub", "org/nope", check=False)
    assert unknown.returncode == 2 and "org/nope" in unknown.stdout + unknown.stderr


def test_tokenize_of_blank_rows_fails_saying_what_to_change(
        ds_settings: Settings, import_root: Path, tiny_llama_dir: Path) -> None:
    """A dataset of blank lines was tokenized into a "ready" tokenization of 0 sequences
    (``extract`` then refused it); the job now fails, the command says why with no resume hint
    (a resume would fail again), exit 1, and the tokenization is listed as failed."""
    (import_root / "blank.txt").write_text("\n\n")
    dataset = _json(_cli(ds_settings, "add", str(import_root / "blank.txt"), "--json"))
    model_id = register_model_row(ds_settings, tiny_llama_dir)
    refused = _cli(ds_settings, "tokenize", str(dataset["id"]), "--model", str(model_id),
                   check=False)
    said = " ".join(refused.stderr.split())
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert ("failed: the tokenization would hold no sequence: 2 of the 2 rows have no text "
            "tokens (blank or whitespace only): import a dataset whose text column holds text"
            ) in said, said
    assert "jobs resume" not in said
    shown = _json(_cli(ds_settings, "show", str(dataset["id"]), "--json"))
    [tokenization] = shown["tokenizations"]
    assert tokenization["status"] == "failed"
    assert not (ds_settings.data_dir / tokenization["path"]).exists()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    settings = make_settings(tmp_path / "srv", max_upload_bytes=1_000_000)
    with uvicorn_in_thread(settings, log_level="error") as port:
        yield f"http://127.0.0.1:{port}", settings


def test_tokenize_refuses_a_max_length_past_a_rotary_models_positions(
        ds_settings: Settings, tiny_llama_dir: Path) -> None:
    """``datasets tokenize`` checked only a learned position table, so a rotary model (the tiny
    llama: ``max_position_embeddings`` 256) was tokenized past its positions; now it is refused
    as ``extract --dataset`` and the API refuse it, before anything is made."""
    bundled = _json(_cli(ds_settings, "add", "--bundled", "--json"))
    model_id = register_model_row(ds_settings, tiny_llama_dir)
    refused = _cli(ds_settings, "tokenize", str(bundled["id"]), "--model", str(model_id),
                   "--max-length", "300", check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert (f"--max-length 300 is more than model {model_id}'s 256 positions "
            "(max_position_embeddings in its config.json); give --max-length 256 or less"
            ) in " ".join(refused.stderr.split()), refused.stderr  # the option it takes
    shown = _json(_cli(ds_settings, "show", str(bundled["id"]), "--json"))
    assert shown["tokenizations"] == []


def test_tokenize_without_a_max_length_takes_a_rotary_models_positions(
        ds_settings: Settings, tiny_llama_dir: Path) -> None:
    """``datasets tokenize`` without ``--max-length`` passed the default 1024 as if given, so
    the 256-position tiny llama refused it; left out, it is now cut to the model's positions
    by the service, which says so in a line."""
    bundled = _json(_cli(ds_settings, "add", "--bundled", "--json"))
    model_id = register_model_row(ds_settings, tiny_llama_dir)
    made = _cli(ds_settings, "tokenize", str(bundled["id"]), "--model", str(model_id),
                "--mode", "pack")
    assert (f"max length 256: model {model_id} takes at most 256 positions "
            "(max_position_embeddings in its config.json; the default is 1024)"
            ) in " ".join(made.stdout.split()), made.stdout
    shown = _json(_cli(ds_settings, "show", str(bundled["id"]), "--json"))
    [tokenization] = shown["tokenizations"]
    assert tokenization["status"] == "ready"
    assert tokenization["policy"]["max_length"] == 256


def test_upload_sends_files_to_a_running_server(server: tuple[str, Settings],
                                                tmp_path: Path) -> None:
    url, settings = server
    (tmp_path / "one.txt").write_text("alpha\nbeta\n")
    (tmp_path / "two.jsonl").write_text('{"text": "gamma"}\n')
    body = _json(_cli(settings, "upload", str(tmp_path / "one.txt"), str(tmp_path / "two.jsonl"),
                      "--server", url, "--name", "sent", "--max-record-bytes", "4096", "--json"))
    assert body["name"] == "sent" and body["status"] == "queued"
    assert body["info"]["formats"] == ["txt", "jsonl"]
    import httpx  # the record limit went with the files, to the import job's read options
    job = httpx.get(f"{url}/api/v1/jobs/{body['job_id']}").json()
    assert job["params"]["read"]["max_record_bytes"] == 4096
    (tmp_path / "big.txt").write_bytes(b"x\n" * 600_000)
    refused = _cli(settings, "upload", str(tmp_path / "big.txt"), "--server", url, check=False)
    assert refused.returncode == 2 and "413" in refused.stderr


def test_upload_to_no_server_or_another_server_says_so_without_a_traceback(
        ds_settings: Settings, tmp_path: Path) -> None:
    """Found by a tester: nothing listening, a URL without a scheme, or a server that is not
    Interp Studio ended the upload in a Python traceback."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class NotStudio(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(501)
            self.end_headers()
            self.wfile.write(b"<html>Unsupported method</html>")

        def log_message(self, *args: Any) -> None:
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), NotStudio)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # nothing listens there once closed
    (tmp_path / "one.txt").write_text("alpha\n")
    try:
        for server, said in ((f"http://127.0.0.1:{closed_port}", "cannot upload"),
                             ("notaurl", "cannot upload"),
                             (f"http://127.0.0.1:{other.server_address[1]}", "not Interp Studio")):
            result = _cli(ds_settings, "upload", str(tmp_path / "one.txt"), "--server", server,
                          check=False)
            assert result.returncode == 2, (server, result.stderr)
            assert said in result.stderr and "Traceback" not in result.stderr, server
    finally:
        other.shutdown()


def test_the_record_limit_a_refusal_names_can_be_set_from_the_terminal(
        ds_settings: Settings, import_root: Path) -> None:
    """A line over ``max_record_bytes`` is refused naming the limit and the option, which the
    API and jobs take but ``datasets add`` had no flag for: the terminal could not raise it."""
    (import_root / "long.txt").write_text("short line\n" + "y" * 2000 + "\n")
    refused = _cli(ds_settings, "add", str(import_root / "long.txt"), "--max-record-bytes",
                   "1024", check=False)
    assert refused.returncode != 0
    said = " ".join((refused.stdout + refused.stderr).split())
    assert "line 2 is longer than 1,024 bytes" in said and "max_record_bytes" in said
    taken = _json(_cli(ds_settings, "add", str(import_root / "long.txt"), "--max-record-bytes",
                       "4096", "--name", "long", "--json"))
    assert taken["status"] == "ready" and taken["rows"] == 2
    out_of_range = _cli(ds_settings, "add", str(import_root / "long.txt"),
                        "--max-record-bytes", "10", check=False)
    assert out_of_range.returncode == 2 and "max_record_bytes" in out_of_range.stderr
