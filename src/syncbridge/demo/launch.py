"""Starting the demo: its store and sandbox in a data folder, the app with its in-process
worker, the first cycle and its summary, then serving with webhooks until Ctrl-C.

Everything runs in one process on SQLite. Vendor calls reach the simulators in process
through the SSRF guard, which lets through only the sandbox's own origin, and the transport
under it refuses every other host: the demo never reaches the internet.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.auth.service import Role, create_key
from syncbridge.bootstrap import bootstrap_store
from syncbridge.cli.serve import sandbox_settings
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.db import open_store
from syncbridge.demo.classifying import load_demo_mapping_rules
from syncbridge.demo.cycle import CycleFailed, console, first_cycle
from syncbridge.demo.summary import read_summary, render_summary
from syncbridge.demo.transport import LateApp, SandboxOnlyTransport
from syncbridge.demo.webhooks import Delivery, WebhookEmitter
from syncbridge.models import InboxEvent
from syncbridge.sandbox.embedded import EmbeddedSandbox, prepare_sandbox_connections
from syncbridge.sandbox.spec import SandboxRegistry
from syncbridge.sandbox.world import World
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import in_unit_of_work

__all__ = ["DemoOptions", "demo_settings", "prepare_demo", "run_demo"]

ACTOR = "demo"
DATABASE_FILE = "syncbridge-demo.db"
FOLDER = "syncbridge-demo-dam"
#: How long ``--once`` waits for its webhook's change to be applied.
ROUND_TRIP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class DemoOptions:
    """What the command line chose."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    assets: int = 120
    once: bool = False
    webhook_every_s: float = 5.0

    @property
    def local_url(self) -> str:
        """Where the app (and its simulators, under /sandbox) answers."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def database(self) -> Path:
        return self.data_dir / DATABASE_FILE

    @property
    def folder(self) -> Path:
        """The sandbox's sample folders (the folder DAM, the CSV exports)."""
        return self.data_dir / FOLDER


def demo_settings(base: Settings, options: DemoOptions) -> Settings:
    """``base`` for the demo: its own SQLite file (SYNCBRIDGE_DATABASE_URL is ignored), the
    worker in process, development keys, and the sandbox (origin and folder) allowed."""
    settings = base.model_copy(
        update={
            "database_url": f"sqlite+aiosqlite:///{options.database.resolve()}",
            "environment": "development",
            "run_worker_in_process": True,
            "inbox_debounce_s": min(base.inbox_debounce_s, 1.0),
            # The worker's jobs follow one another quickly here: idle polls stay short.
            "worker_poll_interval_s": min(base.worker_poll_interval_s, 0.2),
        }
    )
    return sandbox_settings(settings, options.local_url, options.folder)


def fresh_start(options: DemoOptions) -> None:
    """Remove what an earlier demo left in the data folder (its store and sample folders,
    nothing else): the simulators start from the same world each time, so the store does."""
    options.data_dir.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        options.database.with_name(DATABASE_FILE + suffix).unlink(missing_ok=True)
    shutil.rmtree(options.folder, ignore_errors=True)


def build_sandbox(options: DemoOptions) -> EmbeddedSandbox:
    """The simulators of a world of ``options.assets`` assets (sample folders written)."""
    return EmbeddedSandbox.build(
        SandboxRegistry.from_entry_points(),
        ConnectorRegistry.from_entry_points(),
        world=World(assets_count=options.assets),
        public_url=options.local_url,
        folder=options.folder,
    )


async def prepare_demo(settings: Settings, sandbox: EmbeddedSandbox) -> str:
    """Load the defaults (taxonomy, link and tag rules: the bootstrap), the demo's mapping
    rules and the sandbox connections into the migrated store; returns an admin key made
    for this demo."""
    first_key = await bootstrap_store(settings)
    await prepare_sandbox_connections(settings, sandbox, ConnectorRegistry.from_entry_points())

    async def rules_and_key(session: AsyncSession) -> str:
        await load_demo_mapping_rules(session, ACTOR)
        if first_key is not None:
            return first_key
        _row, raw = await create_key(session, name="demo-admin", role=Role.admin, actor=ACTOR)
        return raw

    async with open_store(settings.database_url) as sessionmaker:
        return await in_unit_of_work(sessionmaker, rules_and_key)


def _build_app(settings: Settings, sandbox: EmbeddedSandbox, origin: str) -> FastAPI:
    from syncbridge.app import create_app

    late = LateApp()
    app = create_app(settings, sandbox, transport=SandboxOnlyTransport(late, origin))
    late.app = app
    return app


async def _cycle(app: FastAPI, options: DemoOptions, admin_key: str) -> None:
    """The first cycle, then the summary (raises CycleFailed)."""
    sessionmaker = app.state.sessionmaker
    worker = app.state.worker
    if worker is None:
        raise CycleFailed("No job worker runs in this process: the demo needs one.")
    await first_cycle(sessionmaker, worker.services)
    summary = await in_unit_of_work(sessionmaker, read_summary, write=False)
    console.rule("Summary")
    # The summary is the command's output (stdout); progress went to stderr.
    Console().print(render_summary(summary, options.local_url, admin_key))


async def run_demo(
    settings: Settings, sandbox: EmbeddedSandbox, options: DemoOptions, admin_key: str
) -> None:
    """Run the demo: ``--once`` runs the cycle and one webhook round trip and returns; else
    the API serves (with its worker) and the simulators send webhooks until Ctrl-C."""
    app = _build_app(settings, sandbox, options.local_url)
    webhook_base = settings.public_url or options.local_url
    if options.once:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client,
        ):
            await _cycle(app, options, admin_key)
            emitter = WebhookEmitter(sandbox, client, webhook_base)
            await emitter.load_connections(app.state.sessionmaker)
            await _round_trip(app, emitter)
        return
    await _serve(app, sandbox, options, admin_key, webhook_base)


async def _serve(
    app: FastAPI,
    sandbox: EmbeddedSandbox,
    options: DemoOptions,
    admin_key: str,
    webhook_base: str,
) -> None:
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host=options.host, port=options.port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():  # noqa: ASYNC110 - a flag, no event
        await asyncio.sleep(0.05)
    if serving.done():
        serving.result()  # raises what stopped the server (a port in use: SystemExit)
        return
    console.print(f"syncbridge on {options.local_url}  (docs: {options.local_url}/docs)")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        emitter = WebhookEmitter(sandbox, client, webhook_base)
        background = asyncio.create_task(_after_start(app, options, admin_key, emitter))
        try:
            await serving
        finally:
            background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await background


async def _after_start(
    app: FastAPI, options: DemoOptions, admin_key: str, emitter: WebhookEmitter
) -> None:
    try:
        await _cycle(app, options, admin_key)
    except CycleFailed as exc:
        # The API goes on serving: the failed run is there to look at.
        console.print(f"[red]{exc.detail}[/red] See {options.local_url}/v1/runs.")
        console.print(f"Admin API key (shown once, store it): {admin_key}")
    await emitter.load_connections(app.state.sessionmaker)
    console.print(
        f"Serving until Ctrl-C; every {options.webhook_every_s:g} s a simulator changes an "
        "item and sends its signed webhook to POST /webhooks/{connection_id}:"
    )

    def show(delivery: Delivery) -> None:
        console.print(
            f"  webhook {delivery.connector}: {delivery.change} -> {delivery.status} "
            f"{delivery.answer}"
        )

    await emitter.run_forever(options.webhook_every_s, show)


async def _round_trip(app: FastAPI, emitter: WebhookEmitter) -> Delivery:
    """One HubSpot change delivered and applied (its event handled by an events run)."""
    delivery = await emitter.deliver_one()
    console.print(
        f"Webhook round trip: {delivery.connector} {delivery.change} -> POST "
        f"{delivery.url} -> {delivery.status} {delivery.answer}"
    )
    if delivery.status != 200:
        raise CycleFailed(f"The webhook was refused: {delivery.status} {delivery.answer}")
    sessionmaker = app.state.sessionmaker

    async def outcome(session: AsyncSession) -> tuple[str | None, str | None]:
        event = await session.scalar(
            select(InboxEvent).order_by(InboxEvent.received_at.desc()).limit(1)
        )
        return (None, None) if event is None else (event.status, event.outcome)

    try:
        async with asyncio.timeout(ROUND_TRIP_TIMEOUT_S):
            while True:
                status, how = await in_unit_of_work(sessionmaker, outcome, write=False)
                if status in ("handled", "dead"):
                    break
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise CycleFailed(
            f"The webhook's event was not applied within {ROUND_TRIP_TIMEOUT_S:g} s."
        ) from None
    if status != "handled":
        raise CycleFailed(f"The webhook's event ended {status}.")
    console.print(f"  ... applied by the worker: event {status} ({how}).")
    return delivery
