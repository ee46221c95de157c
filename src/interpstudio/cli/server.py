"""``interpstudio serve | worker | db upgrade | openapi``: running the app and its plumbing."""

from __future__ import annotations

import errno
import json
import socket
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from interpstudio.cli.common import check_deployment, console, load_settings
from interpstudio.core.errors import ConfigurationError

app = typer.Typer()
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    workers: Annotated[int | None, typer.Option(help="Embedded job workers (0: none).")] = None,
) -> None:
    """Apply migrations, start the embedded job workers and serve the API and web UI."""
    import uvicorn

    from interpstudio.api.app import create_app
    from interpstudio.core.events import check_broker
    from interpstudio.core.logging import configure_logging, uvicorn_log_config
    from interpstudio.jobs.pool import WorkerPool

    settings = load_settings(host=host, port=port, workers=workers)
    configure_logging(settings.log_level)
    check_broker(settings.broker_url)  # one line naming the variable, not uvicorn's traceback
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    check_deployment(settings)  # migrations, and the data dir the rest of it uses
    check_port_free(settings.host, settings.port)  # before a worker starts for nothing
    pool = WorkerPool(settings)
    pool.start()
    try:
        console.print(f"Interp Studio on http://{settings.host}:{settings.port} "
                      f"(data: {settings.data_dir}, workers: {settings.workers})")
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                    log_level=settings.log_level.lower(), log_config=uvicorn_log_config())
    finally:
        pool.stop()


class PortInUse(ConfigurationError):
    """Something already listens where ``serve`` would: said before workers start, not as
    uvicorn's "[Errno 98] error while attempting to bind" after "Interp Studio on http://..."
    and a worker started for nothing."""

    code = "port_in_use"

    def __init__(self, host: str, port: int, reason: str, *, taken: bool) -> None:
        who = ": another Interp Studio or another program uses it; stop it, or" if taken else ";"
        super().__init__(
            f"cannot listen on {host}:{port} ({reason}){who} pick another port with --port N "
            "(or INTERPSTUDIO_PORT)", details={"host": host, "port": port, "reason": reason})


def check_port_free(host: str, port: int) -> None:
    """Raise ``PortInUse`` unless ``host:port`` can be bound as uvicorn binds it (with
    ``SO_REUSEADDR``: a port left in TIME_WAIT by the last run is free)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise PortInUse(host, port, f"the host name does not resolve: {exc.strerror}",
                        taken=False) from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise PortInUse(host, port, exc.strerror or str(exc),
                            taken=exc.errno == errno.EADDRINUSE) from None


@app.command()
def worker() -> None:
    """Run one job worker in the foreground (scale-out, or beside `serve --workers 0`)."""
    from interpstudio.jobs.runner import worker_main

    # a worker binds nothing: the API's rule (off loopback, a key) is not its own; a GPU box
    # sharing the API's env file (INTERPSTUDIO_HOST=0.0.0.0) was refused without the key
    settings = load_settings(host="127.0.0.1")
    check_deployment(settings)  # migrations, and the data dir the API uses
    worker_main(settings)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all database migrations (SQLite or PostgreSQL)."""
    from interpstudio.db.migrate import head_revision, upgrade

    settings = load_settings()
    upgrade(settings.resolved_database_url)
    console.print(f"database at revision {head_revision()}")


@app.command()
def openapi(out: Annotated[Path | None, typer.Option(help="Write to this file.")] = None) -> None:
    """Print the REST API's OpenAPI schema (the frontend's types are generated from it)."""
    from interpstudio.api.app import create_app

    data_dir = Path(tempfile.mkdtemp(prefix="interpstudio-openapi-"))
    settings = load_settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'x.db'}",
                             api_key=None, host="127.0.0.1")
    text = json.dumps(create_app(settings).openapi(), indent=2, sort_keys=True) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
