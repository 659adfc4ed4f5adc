"""`syncbridge taxonomy` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="taxonomy commands.", no_args_is_help=True)
