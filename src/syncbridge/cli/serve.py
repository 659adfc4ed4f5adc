"""``syncbridge serve``: the REST API, optionally with the embedded sandbox vendors."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from syncbridge.db import migrate, normalise_url
from syncbridge.settings import Settings, get_settings

if TYPE_CHECKING:
    from syncbridge.sandbox.embedded import EmbeddedSandbox

console = Console(stderr=True)


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    auto_migrate: Annotated[
        bool | None,
        typer.Option(
            "--migrate/--no-migrate",
            help="Migrate the store on start (default: on for SQLite, off for PostgreSQL).",
        ),
    ] = None,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox/--no-sandbox",
            help="Also serve simulated vendors at /sandbox/<connector> with ready "
            "'sandbox-<connector>' connections (allows connections to local hosts).",
        ),
    ] = False,
    sandbox_assets: Annotated[
        int, typer.Option(help="Assets in the sandbox world.", min=1, max=100_000)
    ] = 500,
    sandbox_folder: Annotated[
        Path, typer.Option(help="Where the local-folder sandbox DAM is written.")
    ] = Path("sandbox-dam"),
) -> None:
    """Run the REST API (OpenAPI docs at /docs)."""
    import uvicorn

    from syncbridge.app import create_app
    from syncbridge.bootstrap import bootstrap_store

    settings = get_settings()
    is_sqlite = normalise_url(settings.database_url).startswith("sqlite")
    if auto_migrate if auto_migrate is not None else is_sqlite:
        migrate(settings.database_url)
    first_key = asyncio.run(bootstrap_store(settings))
    embedded = None
    if sandbox:
        # Only the sandbox's own simulators may be reached on this host, nothing else local.
        settings = sandbox_settings(settings, _public_url(host, port), sandbox_folder)
        embedded = _start_sandbox(settings, host, port, sandbox_assets, sandbox_folder)
    if first_key:
        console.print(
            "[bold yellow]First start: created an admin API key (shown once, store it):"
            f"[/bold yellow]\n  {first_key}"
        )
    console.print(f"syncbridge on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    uvicorn.run(create_app(settings, embedded), host=host, port=port, log_level="warning")


def _public_url(host: str, port: int) -> str:
    public_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://{public_host}:{port}"


def sandbox_settings(settings: Settings, public_url: str, folder: Path) -> Settings:
    """``settings`` with the sandbox's origin (its simulators) allowed past the SSRF guard and
    its folder (sample files) permitted as a connection root."""
    return settings.model_copy(
        update={
            "sandbox_origins": [*settings.sandbox_origins, public_url],
            "sandbox_folders": [*settings.sandbox_folders, folder.resolve()],
        }
    )


def _start_sandbox(
    settings: Settings, host: str, port: int, assets: int, folder: Path
) -> EmbeddedSandbox:
    """Build the simulators and refresh the ``sandbox-<key>`` connections that reach them."""
    from syncbridge.connector.registry import ConnectorRegistry
    from syncbridge.sandbox.embedded import EmbeddedSandbox, prepare_sandbox_connections
    from syncbridge.sandbox.spec import SandboxRegistry
    from syncbridge.sandbox.world import World

    registry = ConnectorRegistry.from_entry_points()
    public_url = _public_url(host, port)
    embedded = EmbeddedSandbox.build(
        SandboxRegistry.from_entry_points(),
        registry,
        world=World(assets_count=assets),
        public_url=public_url,
        folder=folder,
    )
    names = asyncio.run(prepare_sandbox_connections(settings, embedded, registry))
    console.print(
        f"Sandbox vendors at {public_url}/sandbox/<connector>; connections: {', '.join(names)}"
    )
    return embedded
