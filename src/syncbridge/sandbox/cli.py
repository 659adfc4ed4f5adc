"""`syncbridge sandbox` commands: serve a vendor simulator, or write a sandbox asset folder."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from syncbridge.connector.cli import registry_from
from syncbridge.connector.errors import ConnectorError
from syncbridge.connector.spec import ConnectorSpec
from syncbridge.sandbox.faults import FaultKnobs
from syncbridge.sandbox.world import World

app = typer.Typer(help="Vendor simulators for demos and local development.", no_args_is_help=True)
console = Console(stderr=True)


def build_simulator(spec: ConnectorSpec, world: World, faults: FaultKnobs) -> Any:
    """The ASGI app of ``spec``'s simulator; raises ``ValueError`` when it ships none."""
    if spec.simulator is None:
        raise ValueError(f"connector '{spec.key}' ships no simulator")
    return spec.simulator(world, faults=faults)


def sandbox_info(simulator: Any) -> Mapping[str, str]:
    """The settings a connection needs against ``simulator`` (its ``sandbox_info``, if any)."""
    info = getattr(simulator, "sandbox_info", None)
    return {str(k): str(v) for k, v in info.items()} if isinstance(info, Mapping) else {}


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
        spec = registry_from(ctx).get(key)
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
    console.print(f"{spec.display_name} simulator on [bold]http://{host}:{port}[/bold]")
    console.print(f"  world: {assets} assets, seed {seed}")
    settings_for = getattr(simulator, "connection_settings", None)
    if callable(settings_for):
        # Sandbox credentials are public test values, printed to configure a connection.
        settings = settings_for(f"http://{host}:{port}")
        console.print("  connection settings (POST /v1/connections, with SYNCBRIDGE_ALLOW_LOCAL_")
        console.print("  CONNECTIONS=true):")
        console.print_json(json.dumps({"connector": key, "settings": settings}))
    else:
        for name, value in sandbox_info(simulator).items():
            console.print(f"  {name}: {value}")
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
        spec = registry_from(ctx).get(key)
    except ConnectorError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(code=2) from exc
    writer = spec.extra.get("materialize")
    if not callable(writer):
        console.print(
            f"[red]connector '{key}' has no file-based sandbox; try `sandbox serve`[/red]"
        )
        raise typer.Exit(code=2)
    directory.mkdir(parents=True, exist_ok=True)
    writer(World(seed=seed, assets_count=assets), directory.resolve())
    console.print(f"Wrote {assets} sandbox assets into [bold]{directory.resolve()}[/bold]")
    console.print(f'  connection settings: {{"root": "{directory.resolve()}"}}')
