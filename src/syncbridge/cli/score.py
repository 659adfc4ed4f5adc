"""``syncbridge score``: start a scoring run, show a progress bar per tag rule, and summarise.

The run and its job are written in one unit of work, exactly as ``POST /v1/runs
{"kind": "score"}`` writes them. By default this process then also runs a worker that claims
only this run's job, and its bars move with every batch of desired tags written; if another
worker takes the job first (or with ``--no-work``), the bars move a rule at a time, as the
store reports each rule done. Ctrl-C cancels a run still queued; a running one runs to its
end (a second Ctrl-C stops watching).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.cli.sync import (
    POLL_S,
    RateColumn,
    _interrupts,
    console,
    exit_for,
)
from syncbridge.db import open_store
from syncbridge.errors import Conflict, SyncbridgeError
from syncbridge.jobs import HandlerRegistry
from syncbridge.jobs.repository import live_job_with_key
from syncbridge.jobs.runner import running_worker
from syncbridge.jobs.services import JobServices, job_services
from syncbridge.runs import service
from syncbridge.runs.schemas import RunCreate, RunDetail, ScoreRuleOut
from syncbridge.scoring import repository as scoring
from syncbridge.scoring.jobs import score_run_handler
from syncbridge.scoring.runs import SCORE_JOB, job_dedupe_key
from syncbridge.settings import Settings, get_settings
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.sync.repository import FINISHED

__all__ = ["RuleLine", "ScoreWatch", "score", "summary"]

Sessionmaker = async_sessionmaker[AsyncSession]
ACTOR = "cli"


@dataclass(frozen=True)
class RuleLine:
    """What the bars and the summary show of one enabled rule, read when the run starts."""

    id: uuid.UUID
    name: str
    tiers: tuple[str, ...]


async def _start(
    sessionmaker: Sessionmaker, services: JobServices
) -> tuple[RunDetail, uuid.UUID | None, list[RuleLine], int]:
    """The queued run, its job's id, the rules it will score and the live assets."""

    async def start(session: AsyncSession) -> tuple[RunDetail, uuid.UUID | None]:
        body = RunCreate(kind="score")
        run = await service.start_run(
            session, services.connections, services.http, body, actor=ACTOR
        )
        job = await live_job_with_key(session, job_dedupe_key(run.id))
        return run, None if job is None else job.id

    run, job_id = await in_unit_of_work(sessionmaker, start)

    async def rules(session: AsyncSession) -> tuple[list[RuleLine], int]:
        found = [
            RuleLine(r.id, r.name, (*(t["concept"] for t in r.tiers), r.insufficient_concept))
            for r in await scoring.enabled_rules(session)
        ]
        return found, len(await scoring.live_asset_ids(session))

    found, assets = await in_unit_of_work(sessionmaker, rules, write=False)
    return run, job_id, found, assets


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(finished_text="•"),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("assets"),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _short(name: str, width: int = 60) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


class ScoreWatch:
    """The live view of one scoring run: a bar per rule, moved by the in-process job's
    batches (:meth:`advance`) and set from the store as each rule finishes (:meth:`show`)."""

    def __init__(self, progress: Progress, rules: Sequence[RuleLine], assets: int) -> None:
        self.progress = progress
        self.tasks: dict[uuid.UUID, TaskID] = {
            rule.id: progress.add_task(_short(rule.name), total=assets) for rule in rules
        }

    def advance(self, rule_id: uuid.UUID, assets: int) -> None:
        task = self.tasks.get(rule_id)
        if task is not None:
            self.progress.advance(task, assets)

    def show(self, run: RunDetail) -> None:
        for result in run.scoring:
            task = self.tasks.get(result.rule_id)
            if task is not None:
                self.progress.update(task, total=result.assets, completed=result.assets)


async def _read(sessionmaker: Sessionmaker, run_id: uuid.UUID) -> RunDetail:
    return await in_unit_of_work(sessionmaker, lambda s: service.show_run(s, run_id), write=False)


async def _cancel(sessionmaker: Sessionmaker, run_id: uuid.UUID) -> RunDetail | None:
    """The run cancelled; None when it is already scoring (it runs to its end)."""
    try:
        return await in_unit_of_work(
            sessionmaker, lambda s: service.cancel_run(s, run_id, actor=ACTOR)
        )
    except Conflict:
        return None


async def follow(
    sessionmaker: Sessionmaker, run: RunDetail, watch: ScoreWatch, presses: asyncio.Queue[None]
) -> RunDetail:
    """Poll the run until it has finished; the first Ctrl-C cancels it if it is still
    queued, the second (or the first, once it scores) stops watching."""
    asked = False
    while run.status not in FINISHED:
        watch.show(run)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(presses.get(), timeout=POLL_S)
            if asked:
                console.print("[yellow]Stopped watching; the run scores to its end.[/]")
                return run
            asked = True
            cancelled = await _cancel(sessionmaker, run.id)
            if cancelled is not None:
                run = cancelled
                continue
            console.print(
                "[yellow]The run is scoring and cannot be stopped; its batches are short "
                "(Ctrl-C again to stop watching).[/]"
            )
        run = await _read(sessionmaker, run.id)
    watch.show(run)
    return run


async def _score(settings: Settings, work: bool) -> tuple[RunDetail, list[RuleLine]]:
    async with (
        _interrupts() as presses,
        job_services(settings) as services,
        open_store(settings.database_url) as store,
    ):
        run, job_id, rules, assets = await _start(store, services)
        console.print(f"Run {run.id} queued: {len(rules)} tag rule(s) over {assets:,} asset(s).")
        with _progress() as progress:
            watch = ScoreWatch(progress, rules, assets)
            async with contextlib.AsyncExitStack() as stack:
                if work and job_id is not None:
                    registry = HandlerRegistry()
                    registry.register(SCORE_JOB, score_run_handler(watch.advance))
                    await stack.enter_async_context(
                        running_worker(
                            settings, registry=registry, services=services, only=[job_id]
                        )
                    )
                run = await follow(store, run, watch, presses)
        return run, rules


def _tiers(result: ScoreRuleOut, order: Sequence[str]) -> str:
    rank = {concept: i for i, concept in enumerate(order)}
    counts = sorted(result.tiers.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))
    return "  ".join(f"{concept} {n:,}" for concept, n in counts)


def summary(run: RunDetail, rules: Sequence[RuleLine]) -> Table:
    """Per rule: its version, window, assets, tiers and how many desired tags changed."""
    lines = {rule.id: rule for rule in rules}
    table = Table(title=f"Run {run.id}: {run.status}", title_justify="left")
    for header in ("rule", "version", "window", "assets", "tiers"):
        table.add_column(header, justify="right" if header == "assets" else "left")
    for header in ("changed", "unchanged", "removed"):
        table.add_column(header, justify="right")
    for result in run.scoring:
        line = lines.get(result.rule_id)
        table.add_row(
            line.name if line else str(result.rule_id),
            str(result.rule_version),
            f"{result.window_start} to {result.window_end}",
            f"{result.assets:,}",
            _tiers(result, line.tiers if line else ()),
            *(f"{n:,}" for n in (result.changed, result.unchanged, result.removed)),
        )
    return table


def score(
    work: Annotated[
        bool,
        typer.Option(
            "--work/--no-work",
            help="Also run the scoring job in this process (default), or only watch it being "
            "run by `syncbridge worker` / `serve`.",
        ),
    ] = True,
) -> None:
    """Score every enabled tag rule now: the desired performance tag of every asset, with a
    progress bar per rule and a summary at the end (assets, tiers, changed). Exits 1 when
    the run failed and 130 when it was cancelled."""
    settings = get_settings()
    try:
        run, rules = asyncio.run(_score(settings, work))
    except SyncbridgeError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from None
    if not rules and run.status == "succeeded":
        console.print("No enabled tag rules: nothing was scored (see /v1/tag-rules).")
    console.print(summary(run, rules))
    if run.status == "failed":
        console.print(f"[red]{run.error}[/red]")
    exit_for(run)
