"""``syncbridge``: run the service, migrate the store, manage keys and the taxonomy."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.auth.service import Role, create_key
from syncbridge.cli.demo import demo
from syncbridge.cli.reconcile import reconcile
from syncbridge.cli.score import score
from syncbridge.cli.serve import serve
from syncbridge.cli.sync import sync
from syncbridge.cli.worker import worker
from syncbridge.connector.cli import app as connectors_app
from syncbridge.db import migrate, open_store
from syncbridge.sandbox.cli import app as sandbox_app
from syncbridge.settings import get_settings
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.taxonomy.cli import app as taxonomy_app

app = typer.Typer(
    name="syncbridge",
    help=(
        "syncbridge joins CRM and analytics records with DAM assets through one shared "
        "taxonomy, and writes performance tags back to the DAM.\n\n"
        "Start with `syncbridge demo`: the whole loop (sync, scoring, write-back, webhooks) on "
        "a SQLite store in this folder with simulated vendors, a summary and an admin API key. "
        "`syncbridge serve --sandbox` serves the same simulators with ready connections on a "
        "lasting store. "
        "Settings come from SYNCBRIDGE_* environment variables (see the README)."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
keys_app = typer.Typer(help="Create and rotate API keys and secret keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(taxonomy_app, name="taxonomy")
app.add_typer(connectors_app, name="connectors")
app.add_typer(sandbox_app, name="sandbox")
app.command("serve")(serve)
app.command("worker")(worker)
app.command("sync")(sync)
app.command("score")(score)
app.command("reconcile")(reconcile)
app.command("demo")(demo)

console = Console(stderr=True)


@app.callback()
def _configure() -> None:
    """Route structured logs to stderr before any command runs."""
    from syncbridge.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)


@app.command("migrate")
def migrate_command(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply database migrations (to the latest by default)."""
    settings = get_settings()
    migrate(settings.database_url, revision)
    console.print(
        f"[green]Store migrated to {revision}[/green] ({_safe_url(settings.database_url)})"
    )


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what the key is for.")],
    role: Annotated[
        Role,
        typer.Option(
            help="viewer: read everything; editor: also change the taxonomy and mappings; "
            "admin: also keys and connections."
        ),
    ] = Role.viewer,
) -> None:
    """Create an API key and print it once."""

    async def run() -> str:
        async def create(session: AsyncSession) -> str:
            _row, raw = await create_key(session, name=name, role=role, actor="cli")
            return raw

        async with open_store(get_settings().database_url) as sessionmaker:
            return await in_unit_of_work(sessionmaker, create)

    raw = asyncio.run(run())
    console.print(f"Created {role.value} key '{name}'. It is shown once:")
    typer.echo(raw)


@keys_app.command("rotate-secrets")
def keys_rotate_secrets() -> None:
    """Re-encrypt every connection's secrets under the first SYNCBRIDGE_SECRET_KEY entry.

    Set the key list to `new,old` everywhere first, run this, then drop the old key. All rows
    are rewritten in one transaction: on any unreadable row nothing changes.
    """
    from rich.progress import Progress

    from syncbridge.connections.secrets import SecretBox, SecretsUnreadable
    from syncbridge.connections.service import rotate_secrets

    settings = get_settings()
    box = SecretBox.from_key_material(settings.secret_key.get_secret_value())

    async def run(progress: Progress) -> int:
        task = progress.add_task("Re-encrypting connection secrets", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        async def rotate(session: AsyncSession) -> int:
            return await rotate_secrets(session, box, actor="cli", on_row=advance)

        async with open_store(settings.database_url) as sessionmaker:
            return await in_unit_of_work(sessionmaker, rotate)

    try:
        with Progress(console=console, transient=True) as progress:
            count = asyncio.run(run(progress))
    except SecretsUnreadable as exc:
        console.print(f"[red]{exc.detail}[/red] Nothing was changed.")
        raise typer.Exit(1) from None
    console.print(
        f"[green]Re-encrypted the secrets of {count} connection(s)[/green] under the first "
        f"of {box.key_count} key(s)."
    )


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
