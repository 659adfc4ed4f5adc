"""A worker as a service runs it: its own engine, LISTEN wake-ups, settings, and a clean stop.

Used by ``syncbridge worker`` and, on SQLite, by the API's lifespan (the embedded default: one
worker in the API process).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Collection
from dataclasses import replace

from syncbridge.db import create_engine, normalise_url
from syncbridge.jobs.clock import SYSTEM_CLOCK, Clock
from syncbridge.jobs.registry import HandlerRegistry
from syncbridge.jobs.services import JobServices, job_services
from syncbridge.jobs.worker import Worker, WorkerConfig
from syncbridge.logs import get_logger
from syncbridge.settings import Settings

log = get_logger(__name__)

#: Concurrent jobs per worker on PostgreSQL unless configured; SQLite always runs one.
POSTGRES_CONCURRENCY = 4


def is_sqlite(settings: Settings) -> bool:
    return normalise_url(settings.database_url).startswith("sqlite")


def runs_in_process(settings: Settings) -> bool:
    """Whether the API process runs a worker: as configured, else on SQLite only."""
    if settings.run_worker_in_process is not None:
        return settings.run_worker_in_process
    return is_sqlite(settings)


def worker_config(settings: Settings, *, concurrency: int | None = None) -> WorkerConfig:
    """The worker's configuration from settings (``concurrency`` overrides them)."""
    wanted = concurrency or settings.worker_concurrency
    if is_sqlite(settings):
        if wanted not in (None, 1):
            log.warning("worker.concurrency_forced", wanted=wanted, concurrency=1)
        wanted = 1
    return WorkerConfig(
        concurrency=wanted or POSTGRES_CONCURRENCY,
        lease_s=settings.worker_lease_s,
        poll_interval_s=settings.worker_poll_interval_s,
        grace_s=settings.worker_grace_s,
    )


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings,
    *,
    registry: HandlerRegistry | None = None,
    config: WorkerConfig | None = None,
    clock: Clock = SYSTEM_CLOCK,
    services: JobServices | None = None,
    only: Collection[uuid.UUID] | None = None,
    heartbeat: bool = False,
    scheduler: bool = False,
) -> AsyncIterator[Worker]:
    """A worker running in the background until the block ends; then it stops (running jobs
    get the grace period, the rest are released) and its engine is closed.

    Handlers come from ``registry``, else from entry points and ``settings.job_modules``.
    Handlers get ``services`` (the API passes its own), else services built from settings
    and closed with the worker. With ``only``, the worker claims those jobs and no other.
    With ``heartbeat`` it records that it is alive (``/readyz``), and with ``scheduler`` it
    also runs the scheduler's ticker (:mod:`syncbridge.schedule.ticker`).
    """
    registry = registry if registry is not None else HandlerRegistry.load(settings.job_modules)
    config = config or worker_config(settings)
    if is_sqlite(settings):
        config = replace(config, concurrency=1)
    async with contextlib.AsyncExitStack() as stack:
        if services is None:
            services = await stack.enter_async_context(job_services(settings))
        engine = create_engine(settings.database_url)
        stack.push_async_callback(engine.dispose)
        worker = Worker(engine, registry, config=config, clock=clock, services=services, only=only)
        task = asyncio.create_task(worker.run(), name="jobs-worker")
        try:
            if heartbeat or scheduler:
                from syncbridge.schedule.ticker import worker_presence

                presence = worker_presence(
                    settings,
                    engine,
                    owner=worker.owner,
                    services=services,
                    scheduler=scheduler,
                    clock=clock,
                )
                await stack.enter_async_context(presence)
            yield worker
        finally:
            worker.stop()
            await task
