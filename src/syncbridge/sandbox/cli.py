"""`syncbridge sandbox` commands: serve a vendor simulator, or write a sandbox asset folder.

Sandboxes come from the entry-point group ``syncbridge.sandboxes`` (``syncbridge.sandbox.
spec``), loaded only here, in ``serve --sandbox`` and in tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from syncbridge.connector.errors import ConnectorError
from syncbridge.sandbox.faults import FaultKnobs
from syncbridge.sandbox.spec import SandboxRegistry, SandboxSpec, Simulator
from syncbridge.sandbox.world import World

app = typer.Typer(help="Vendor simulators for demos and local development.", no_args_is_help=True)
console = Console(stderr=True)


def sandbox_registry_from(ctx: typer.Context) -> SandboxRegistry:
    """The sandbox registry handed in as the context object (tests), else the installed one."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, SandboxRegistry) else SandboxRegistry.from_entry_points()


def build_simulator(spec: SandboxSpec, world: World, faults: FaultKnobs) -> Simulator:
    """The ASGI app of ``spec``'s simulator; raises ``ValueError`` when it ships none."""
    if spec.simulator is None:
        raise ValueError(
            f"'{spec.key}' ships no simulator (it is file-based: try `sandbox materialize`)"
        )
    return spec.simulator(world, faults=faults)


@app.command("serve")
def serve(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Connector key, e.g. bynder.")],
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9001,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    assets: Annotated[int, typer.Option(help="Assets in the sandbox world.", min=0)] = 5000,
    seed: Annotated[int, typer.Option(help="World seed (same seed, same data).")] = 42,
    rate_429: Annotated[float, typer.Option(help="Share of 429 answers.", min=0, max=1)] = 0.0,
    rate_5xx: Annotated[float, typer.Option(help="Share of 503 answers.", min=0, max=1)] = 0.0,
    rate_drop: Annotated[float, typer.Option(help="Share of cut connections.", min=0, max=1)] = 0.0,
    latency: Annotated[float, typer.Option(help="Seconds added to every call.", min=0)] = 0.0,
    rate_timeout: Annotated[
        float, typer.Option(help="Share of calls that stall, then get cut.", min=0, max=1)
    ] = 0.0,
    timeout_stall: Annotated[
        float, typer.Option(help="Seconds a stalled call hangs (above the client's timeout).")
    ] = 35.0,
) -> None:
    """Serve KEY's vendor simulator, built from a deterministic sandbox world."""
    try:
        spec = sandbox_registry_from(ctx).get(key)
        faults = FaultKnobs(
            rate_429=rate_429,
            rate_5xx=rate_5xx,
            rate_drop=rate_drop,
            latency_s=latency,
            rate_timeout=rate_timeout,
            timeout_stall_s=timeout_stall,
        )
        simulator = build_simulator(spec, World(seed=seed, assets_count=assets), faults)
    except (ConnectorError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(code=2) from exc
    console.print(f"{key} simulator on [bold]http://{host}:{port}[/bold]")
    console.print(f"  world: {assets} assets, seed {seed}")
    # Sandbox credentials are public test values, printed to configure a connection.
    settings = dict(simulator.connection_settings(f"http://{host}:{port}"))
    console.print("  connection settings (POST /v1/connections, with SYNCBRIDGE_SANDBOX_ORIGINS")
    console.print(f"  =http://{host}:{port}):")
    console.print_json(json.dumps({"connector": key, "settings": settings}))
    import uvicorn

    uvicorn.run(simulator, host=host, port=port, log_level="warning")


@app.command("materialize")
def materialize(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Connector key of a file-based DAM: localfolder.")],
    directory: Annotated[Path, typer.Argument(help="Folder to write the sandbox assets into.")],
    assets: Annotated[int, typer.Option(help="Assets in the sandbox world.", min=0)] = 200,
    seed: Annotated[int, typer.Option(help="World seed (same seed, same data).")] = 42,
) -> None:
    """Write the sandbox world's assets as files (with XMP sidecars) into DIRECTORY."""
    try:
        spec = sandbox_registry_from(ctx).get(key)
    except ConnectorError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(code=2) from exc
    if spec.materialize is None:
        console.print(f"[red]'{key}' has no file-based sandbox; try `sandbox serve`[/red]")
        raise typer.Exit(code=2)
    directory.mkdir(parents=True, exist_ok=True)
    settings = dict(spec.materialize(World(seed=seed, assets_count=assets), directory.resolve()))
    console.print(f"Wrote {assets} sandbox assets into [bold]{directory.resolve()}[/bold]")
    console.print("  connection settings (the folder must lie in SYNCBRIDGE_LOCAL_FOLDER_ROOTS):")
    console.print_json(json.dumps({"connector": key, "settings": settings}, default=str))
