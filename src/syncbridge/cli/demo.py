"""``syncbridge demo``: the project's main job on its embedded default, in one command."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from syncbridge.logs import configure_logging
from syncbridge.settings import get_settings

console = Console(stderr=True)


def demo(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    assets: Annotated[
        int,
        typer.Option(
            help="Assets in the sandbox world (each DAM holds them all); at 120 the last "
            "campaigns are recent enough for the 28-day tiers.",
            min=1,
            max=20_000,
        ),
    ] = 120,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Run one full cycle (sync, scoring, write-back, one webhook round trip) and exit.",
        ),
    ] = False,
    data_dir: Annotated[
        Path,
        typer.Option(
            help="Where the demo keeps its SQLite store (syncbridge-demo.db) and sample "
            "folders (syncbridge-demo-dam/); both are made afresh on each start."
        ),
    ] = Path(),
) -> None:
    """Start everything in one process on SQLite with simulated vendors (Bynder, Cloudinary,
    HubSpot, Salesforce, GA4, a local folder): load the default taxonomy and rules, run the
    first full sync, scoring and write-back with progress bars, print a summary and an admin
    API key, then serve the API (docs at /docs) while the simulators send signed webhooks
    for their changes, until Ctrl-C. Never reaches the internet."""
    from syncbridge.db import migrate
    from syncbridge.demo.cycle import CycleFailed
    from syncbridge.demo.launch import (
        DemoOptions,
        build_sandbox,
        demo_settings,
        fresh_start,
        prepare_demo,
        run_demo,
    )

    base = get_settings()
    if "SYNCBRIDGE_LOG_LEVEL" not in os.environ:
        # The bars and the summary tell the story; the service's INFO events would bury it.
        configure_logging("WARNING", base.log_json)
        logging.getLogger().setLevel(logging.WARNING)  # set at INFO by the CLI's callback
    options = DemoOptions(data_dir=data_dir, host=host, port=port, assets=assets, once=once)
    settings = demo_settings(base, options)
    fresh_start(options)
    console.print(f"syncbridge demo: a fresh store at {options.database} ({assets} assets a DAM)")
    migrate(settings.database_url)
    sandbox = build_sandbox(options)
    admin_key = asyncio.run(prepare_demo(settings, sandbox))
    try:
        asyncio.run(run_demo(settings, sandbox, options, admin_key))
    except CycleFailed as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("Stopped.")
