"""`syncbridge connectors` commands: what is installed, and whether it loads."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from syncbridge.connector.errors import ConnectorLoadError
from syncbridge.connector.registry import ConnectorRegistry

app = typer.Typer(help="Installed connectors.", no_args_is_help=True)


def registry_from(ctx: typer.Context) -> ConnectorRegistry:
    """The registry handed in as the context object (tests, embedding), else the installed one."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, ConnectorRegistry) else ConnectorRegistry.from_entry_points()


@app.command("list")
def list_connectors(ctx: typer.Context) -> None:
    """List installed connectors: key, name, kind, capabilities, and whether each loads."""
    registry = registry_from(ctx)
    table = Table(title="Connectors")
    for column in ("key", "name", "kind", "capabilities", "status"):
        table.add_column(column, overflow="fold")
    broken = 0
    for key, loaded in registry.load_all().items():
        if isinstance(loaded, ConnectorLoadError):
            broken += 1
            table.add_row(key, "", "", "", f"[red]{loaded.detail}[/red]")
            continue
        capabilities = ", ".join(sorted(c.value for c in loaded.capabilities))
        table.add_row(
            key, loaded.display_name, loaded.kind.value, capabilities, "[green]ok[/green]"
        )
    Console().print(table)
    if not registry.keys():
        typer.echo("No connectors installed (entry-point group syncbridge.connectors).")
    if broken:
        raise typer.Exit(code=1)
