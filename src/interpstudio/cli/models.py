"""`interpstudio models ...` commands (being built: see docs/ARCHITECTURE.md)."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)
