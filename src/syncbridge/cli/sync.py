"""``syncbridge sync``: start a sync run, follow each stream live, and summarise it.

The run and its jobs are written in one unit of work, exactly as ``POST /v1/runs`` writes
them. By default this process then also runs a worker that claims only this run's jobs, so a
sync works with nothing else started; if another worker takes a job first, the command just
watches. Ctrl-C cancels the run (its streams stop at their next page; the pages committed so
far stay); a second Ctrl-C stops watching at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.connections import repository as connections
from syncbridge.db import open_store
from syncbridge.errors import NotFound, SyncbridgeError
from syncbridge.jobs.runner import running_worker
from syncbridge.jobs.services import JobServices, job_services
from syncbridge.models import Connection
from syncbridge.runs import repository, service
from syncbridge.runs.schemas import RunCreate, RunDetail, RunStreamOut
from syncbridge.settings import Settings, get_settings
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.sync.repository import FINISHED

console = Console(stderr=True)
Sessionmaker = async_sessionmaker[AsyncSession]
#: How often the run is read while it runs.
POLL_S = 0.25
ACTOR = "cli"
#: Exit codes: the run failed; the run was cancelled (as a shell reports Ctrl-C).
EXIT_FAILED, EXIT_CANCELLED = 1, 130


class RateColumn(ProgressColumn):
    """Items read per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f}/s", style="progress.data.speed")


async def _connection(session: AsyncSession, ref: str) -> Connection:
    """The connection named ``ref``, or whose id it is."""
    found: Connection | None = None
    with contextlib.suppress(ValueError):
        found = await session.get(Connection, uuid.UUID(ref))
    found = found or await connections.by_name(session, ref)
    if found is None:
        raise NotFound(f"No connection named or with id '{ref}'.")
    return found


async def _start(
    sessionmaker: Sessionmaker,
    services: JobServices,
    ref: str | None,
    full: bool,
    streams: list[str] | None,
) -> tuple[RunDetail, list[uuid.UUID], dict[uuid.UUID, str]]:
    """The queued run, its jobs' ids and the names of the connections it reads."""

    async def start(session: AsyncSession) -> tuple[RunDetail, list[uuid.UUID]]:
        connection_id = None if ref is None else (await _connection(session, ref)).id
        body = RunCreate(connection_id=connection_id, full=full, streams=streams or None)
        run = await service.start_run(
            session, services.connections, services.http, body, actor=ACTOR
        )
        return run, [job.id for job in await repository.jobs_of(session, run.id)]

    run, jobs = await in_unit_of_work(sessionmaker, start)

    async def names(session: AsyncSession) -> dict[uuid.UUID, str]:
        ids = {s.connection_id for s in run.streams}
        return {i: c.name for i in ids if (c := await session.get(Connection, i)) is not None}

    return run, jobs, await in_unit_of_work(sessionmaker, names, write=False)


async def _read(sessionmaker: Sessionmaker, run_id: uuid.UUID) -> RunDetail:
    return await in_unit_of_work(sessionmaker, lambda s: service.show_run(s, run_id), write=False)


async def _cancel(sessionmaker: Sessionmaker, run_id: uuid.UUID) -> RunDetail:
    return await in_unit_of_work(sessionmaker, lambda s: service.cancel_run(s, run_id, actor=ACTOR))


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(finished_text="•"),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} read"),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
    )


class Watch:
    """The live view of one run: a progress line per stream, updated from the store."""

    def __init__(self, progress: Progress, names: dict[uuid.UUID, str]) -> None:
        self.progress = progress
        self.names = names
        self.tasks: dict[tuple[uuid.UUID, str], TaskID] = {}

    def show(self, run: RunDetail) -> None:
        for stream in run.streams:
            key = (stream.connection_id, stream.stream)
            if key not in self.tasks:
                name = f"{self.names.get(stream.connection_id, '?')}/{stream.stream}"
                self.tasks[key] = self.progress.add_task(name, total=None, status="queued")
            self.progress.update(
                self.tasks[key],
                completed=stream.read,
                total=progress_total(stream),
                status=_status(stream),
            )


def progress_total(stream: RunStreamOut) -> int | None:
    """A stream's bar total: what it read once finished; else the vendor's total when the
    connector reports one (a bar with an ETA), never below what was read; else None (the bar
    pulses and no ETA shows)."""
    if stream.status in FINISHED:
        return stream.read
    if stream.expected is None:
        return None
    return max(stream.expected, stream.read)


def _status(stream: RunStreamOut) -> str:
    colour = {"succeeded": "green", "failed": "red", "cancelled": "yellow"}.get(stream.status)
    return f"[{colour}]{stream.status}[/{colour}]" if colour else stream.status


def _summary(run: RunDetail, names: dict[uuid.UUID, str]) -> Table:
    table = Table(title=f"Run {run.id}: {run.status}", title_justify="left")
    headers = ("connection", "stream", "status", "read", "inserted", "updated", "unchanged")
    for header in (*headers, "deleted", "rejected", "calls", "429s", "error"):
        numeric = header not in ("connection", "stream", "status", "error")
        table.add_column(header, justify="right" if numeric else "left", overflow="fold")
    for s in run.streams:
        counts = (s.read, s.inserted, s.updated, s.unchanged, s.deleted, s.rejected)
        table.add_row(
            names.get(s.connection_id, str(s.connection_id)),
            s.stream,
            _status(s),
            *(f"{n:,}" for n in (*counts, s.vendor_calls, s.rate_limited)),
            s.error or "",
        )
    return table


@contextlib.asynccontextmanager
async def _interrupts() -> AsyncIterator[asyncio.Queue[None]]:
    """Ctrl-C presses, as queue items, while the block runs."""
    presses: asyncio.Queue[None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, presses.put_nowait, None)
    try:
        yield presses
    finally:
        loop.remove_signal_handler(signal.SIGINT)


async def _follow(
    sessionmaker: Sessionmaker, run: RunDetail, watch: Watch, presses: asyncio.Queue[None]
) -> RunDetail:
    """Poll the run until it has finished; the first Ctrl-C cancels it, the second returns."""
    cancelled = False
    while run.status not in FINISHED:
        watch.show(run)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(presses.get(), timeout=POLL_S)
            if cancelled:
                console.print("[yellow]Stopped watching; the run stops at its next page.[/]")
                return run
            cancelled = True
            console.print(
                "[yellow]Cancelling the run: each stream stops at its next page, the pages "
                "committed so far stay (Ctrl-C again to stop watching).[/]"
            )
            run = await _cancel(sessionmaker, run.id)
            continue
        run = await _read(sessionmaker, run.id)
    watch.show(run)
    return run


#: What starts a watched run: ``(store, services) -> (run, its jobs, connection names)``.
Starter = Callable[
    [Sessionmaker, JobServices],
    Awaitable[tuple[RunDetail, list[uuid.UUID], dict[uuid.UUID, str]]],
]


async def start_and_follow(
    settings: Settings,
    start: Starter,
    queued: Callable[[RunDetail, list[uuid.UUID]], str],
    *,
    work: bool,
) -> tuple[RunDetail, dict[uuid.UUID, str]]:
    """Start a run (``start``), say so (``queued``), run its jobs in this process when
    ``work`` (a worker elsewhere may take them first: then this only watches), and follow it
    with a progress bar per stream until it has finished or Ctrl-C was pressed twice."""
    async with (
        _interrupts() as presses,  # from the start: a Ctrl-C while starting cancels too
        job_services(settings) as services,
        open_store(settings.database_url) as store,
    ):
        run, jobs, names = await start(store, services)
        console.print(queued(run, jobs))
        async with contextlib.AsyncExitStack() as stack:
            if work and jobs:
                await stack.enter_async_context(
                    running_worker(settings, services=services, only=jobs)
                )
            with _progress() as progress:
                run = await _follow(store, run, Watch(progress, names), presses)
        return run, names


def exit_for(run: RunDetail) -> None:
    """End the command as the run ended: 1 failed, 130 cancelled; a run still going (the
    watch was stopped) is pointed at."""
    if run.status == "failed":
        raise typer.Exit(EXIT_FAILED)
    if run.status == "cancelled":
        raise typer.Exit(EXIT_CANCELLED)
    if run.status not in FINISHED:
        console.print(f"Run {run.id} goes on ({run.status}): follow it at /v1/runs/{run.id}.")


def sync(
    connection: Annotated[
        str | None,
        typer.Argument(help="The connection's name or id; none: every enabled connection."),
    ] = None,
    full: Annotated[
        bool,
        typer.Option("--full", help="Read everything and tombstone what the vendor no longer has."),
    ] = False,
    stream: Annotated[
        list[str] | None,
        typer.Option("--stream", "-s", help="Only this stream (repeat for several)."),
    ] = None,
    work: Annotated[
        bool,
        typer.Option(
            "--work/--no-work",
            help="Also run the run's jobs in this process (default), or only watch them "
            "being run by `syncbridge worker` / `serve`.",
        ),
    ] = True,
) -> None:
    """Sync one connection (or every enabled one) into the store, with a live progress bar
    per stream and a summary at the end. Exits 1 when the run failed and 130 when it was
    cancelled. Ctrl-C cancels the run: its streams stop at their next page."""
    settings = get_settings()
    try:
        run, names = asyncio.run(
            start_and_follow(
                settings,
                lambda store, services: _start(store, services, connection, full, stream),
                lambda run, jobs: (
                    f"Run {run.id} queued: {len(run.streams)} stream(s), {len(jobs)} job(s)."
                ),
                work=work,
            )
        )
    except SyncbridgeError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        for problem in exc.errors:
            console.print(f"  {problem.get('field')}: {problem.get('reason')}")
        raise typer.Exit(2) from None
    console.print(_summary(run, names))
    exit_for(run)
