"""``syncbridge worker``: run queued jobs until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from syncbridge.jobs.clock import Clock
    from syncbridge.settings import Settings


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=256,
            help="Jobs run at once (default: SYNCBRIDGE_WORKER_CONCURRENCY, else 4 on "
            "PostgreSQL; always 1 on SQLite).",
        ),
    ] = None,
    no_scheduler: Annotated[
        bool,
        typer.Option(
            "--no-scheduler",
            help="Do not tick the schedules in this process (other workers still do; "
            "SYNCBRIDGE_SCHEDULER_ENABLED=false turns them off everywhere).",
        ),
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Serve this process's Prometheus metrics (job outcomes and latency, vendor "
            "calls and 429s by connector) on this port at /metrics, for scraping each worker.",
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="Interface the metrics port binds.")
    ] = "127.0.0.1",
) -> None:
    """Run queued jobs, and tick the schedules (each slot runs once however many workers
    tick). On SIGTERM/SIGINT it claims nothing more, lets running jobs finish within
    SYNCBRIDGE_WORKER_GRACE_S, releases the rest back to the queue, and exits."""
    from syncbridge.logs import get_logger
    from syncbridge.settings import get_settings

    log = get_logger(__name__)
    settings = get_settings()

    if metrics_port is not None:
        from prometheus_client import start_http_server

        from syncbridge.connector.metrics import registry as metrics_registry

        start_http_server(metrics_port, addr=metrics_host, registry=metrics_registry)
        log.info("worker.metrics_serving", host=metrics_host, port=metrics_port)

    asyncio.run(serve_worker(settings, concurrency=concurrency, scheduler=not no_scheduler))


async def serve_worker(
    settings: Settings,
    *,
    concurrency: int | None = None,
    scheduler: bool = True,
    clock: Clock | None = None,
) -> None:
    """What ``syncbridge worker`` runs: the job worker, its heartbeat and (with ``scheduler``,
    unless the settings turn the schedules off) the ticker, until SIGTERM/SIGINT or until the
    worker itself stops. ``clock`` is the system's unless given: tests run the same wiring on
    virtual time."""
    from syncbridge.jobs.clock import SYSTEM_CLOCK
    from syncbridge.jobs.registry import HandlerRegistry
    from syncbridge.jobs.runner import running_worker, worker_config
    from syncbridge.logs import get_logger

    log = get_logger(__name__)
    registry = HandlerRegistry.load(settings.job_modules)
    config = worker_config(settings, concurrency=concurrency)
    signalled = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, signalled.set)
    async with running_worker(
        settings,
        registry=registry,
        config=config,
        clock=clock or SYSTEM_CLOCK,
        heartbeat=True,
        scheduler=settings.scheduler_enabled and scheduler,
    ) as running:
        # Until a signal, or until the worker itself stops (it failed: exit, restart).
        waits = [
            asyncio.create_task(signalled.wait()),
            asyncio.create_task(running.stopped.wait()),
        ]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
        log.info("worker.stopping", owner=running.owner, grace_s=config.grace_s)
