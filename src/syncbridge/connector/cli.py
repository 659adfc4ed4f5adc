"""`syncbridge connector` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="connector commands.", no_args_is_help=True)
