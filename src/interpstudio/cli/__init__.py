"""The ``interpstudio`` command line (Typer + Rich): one sub-module per group of commands.

``server`` (serve, worker, db, openapi), ``jobs`` (jobs ..., selftest); later groups (models,
datasets, extract) plug in the same way. Settings come from ``INTERPSTUDIO_*`` variables; an
``AppError`` (including invalid settings) or an option value that fails its schema (pydantic's
``ValidationError``: ``--positions bogus``) or a value the database refuses (``DataError``: an
id past 2**31 - 1 on PostgreSQL) or a database it cannot reach (``OperationalError``) ends the
command with its message and exit code 2, never a traceback. Hugging Face's own tqdm bars
("Loading weights", hub transfers) are off in every process the CLI starts
(``HF_HUB_DISABLE_PROGRESS_BARS``, unless the user set it): they printed between the Rich
progress and tables, which already show every stage. This package is NOT responsible for
business rules: commands call services.
"""

from __future__ import annotations

import os
import sys

# before anything imports huggingface_hub / transformers (they read it at import)
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import typer
from pydantic import ValidationError
from sqlalchemy.exc import DataError, OperationalError

from interpstudio.cli import datasets, export, extract, extractions, jobs, models, server
from interpstudio.cli.common import err_console
from interpstudio.core.errors import AppError
from interpstudio.db.session import refusal_reason

app = typer.Typer(help="Interp Studio: models, datasets and activations for interpretability.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.registered_commands += (server.app.registered_commands + jobs.selftest_app.registered_commands
                            + extract.app.registered_commands + export.app.registered_commands)
app.add_typer(server.db_app, name="db")
app.add_typer(jobs.app, name="jobs")
app.add_typer(models.app, name="models", help="Download, import and inspect models.")
app.add_typer(datasets.app, name="datasets", help="Import, inspect and tokenize datasets.")
app.add_typer(extractions.app, name="extractions", help="List, show and delete extractions.")


def main() -> None:
    try:
        app()
    except AppError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        sys.exit(2)
    except DataError as exc:  # an id past 2**31 - 1 or a NUL on PostgreSQL (as the API's 422)
        err_console.print("[red]error:[/red] the database refused a value (a number out of range "
                          f"or a character it cannot store): {refusal_reason(exc)}; change the "
                          "value",
                          highlight=False)
        sys.exit(2)
    except OperationalError as exc:  # unreachable, refused, no such database (not a traceback)
        err_console.print(f"[red]error:[/red] cannot use the database: {refusal_reason(exc)}; "
                          "check INTERPSTUDIO_DATABASE_URL and that the database server is up",
                          highlight=False)
        sys.exit(2)
    except ValidationError as exc:
        for problem in exc.errors(include_url=False):
            where = ".".join(str(part) for part in problem["loc"]) or exc.title
            err_console.print(f"[red]error:[/red] {where}: {problem['msg']} "
                              f"(got {problem.get('input')!r})", highlight=False)
        sys.exit(2)
