"""The demo's first cycle on a running app: a full sync, the metric facts, a scoring run and
the write-back of its tags to every DAM, each with live progress; then an incremental sync
that reads the DAMs back (they now carry the tags, and scoring plans nothing more).

The app's own in-process worker runs every job; this module queues the runs as ``syncbridge
sync`` and ``syncbridge score`` do and watches them with their progress views.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
)
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.cli import score as score_cli
from syncbridge.cli import sync as sync_cli
from syncbridge.errors import SyncbridgeError
from syncbridge.jobs.services import JobServices
from syncbridge.metrics.service import compute_metrics
from syncbridge.models import Connection, WriteBack
from syncbridge.runs.schemas import RunDetail
from syncbridge.store.unit_of_work import in_unit_of_work

__all__ = ["CycleFailed", "CycleRuns", "first_cycle"]

Sessionmaker = async_sessionmaker[AsyncSession]
console = sync_cli.console
#: Write-back states that are final.
SETTLED = ("done", "dead", "superseded")
#: How often the write-back progress is read.
POLL_S = 0.25
#: Bynder applies a write it accepted a moment later (the sandbox after 0.2 s, the real one
#: after seconds): the read-back waits this long so it sees what was written.
READ_BACK_AFTER_S = 1.0


class CycleFailed(SyncbridgeError):
    """A run of the demo's cycle did not succeed."""


@dataclass(frozen=True)
class CycleRuns:
    """The runs of the first cycle."""

    sync: RunDetail
    score: RunDetail
    read_back: RunDetail


async def first_cycle(sessionmaker: Sessionmaker, services: JobServices) -> CycleRuns:
    """Sync, facts, score, write-back and read-back, in order; raises CycleFailed."""
    synced = await _sync(sessionmaker, services, full=True, title="Full sync")
    with console.status("Computing each asset's daily metric facts..."):
        facts = await compute_metrics(sessionmaker, run_id=synced.id)
    console.print(f"Metric facts: {facts.assets:,} asset(s), {facts.facts:,} fact(s).")
    scored = await _score(sessionmaker, services)
    await _write_back(sessionmaker, scored.id)
    await asyncio.sleep(READ_BACK_AFTER_S)
    read_back = await _sync(sessionmaker, services, full=False, title="Read-back sync")
    return CycleRuns(sync=synced, score=scored, read_back=read_back)


async def _sync(
    sessionmaker: Sessionmaker, services: JobServices, *, full: bool, title: str
) -> RunDetail:
    run, _jobs, names = await sync_cli._start(sessionmaker, services, None, full, None)
    console.rule(f"{title}: {len(run.streams)} stream(s) of {len(names)} connection(s)")
    with sync_cli._progress() as progress:
        run = await sync_cli._follow(
            sessionmaker, run, sync_cli.Watch(progress, names), asyncio.Queue()
        )
    _check(run, title)
    return run


async def _score(sessionmaker: Sessionmaker, services: JobServices) -> RunDetail:
    run, _job, rules, assets = await score_cli._start(sessionmaker, services)
    console.rule(f"Scoring: {len(rules)} tag rule(s) over {assets:,} asset(s)")
    with score_cli._progress() as progress:
        watch = score_cli.ScoreWatch(progress, rules, assets)
        run = await score_cli.follow(sessionmaker, run, watch, asyncio.Queue())
    _check(run, "Scoring")
    console.print(score_cli.summary(run, rules))
    return run


async def _write_back(sessionmaker: Sessionmaker, run_id: uuid.UUID) -> None:
    """Follow the write-backs the scoring run planned until each is settled, a bar per DAM
    connection (the in-process worker sends them)."""
    console.rule("Write-back of the performance tags to each DAM")
    with Progress(
        SpinnerColumn(finished_text="•"),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("assets"),
        console=console,
    ) as progress:
        tasks: dict[str, TaskID] = {}
        while True:
            totals, settled = await _write_back_counts(sessionmaker, run_id)
            for name, total in sorted(totals.items()):
                if name not in tasks:
                    tasks[name] = progress.add_task(f"write-back -> {name}", total=total)
                progress.update(tasks[name], completed=settled[name])
            if sum(settled.values()) >= sum(totals.values()):
                return
            await asyncio.sleep(POLL_S)


async def _write_back_counts(
    sessionmaker: Sessionmaker, run_id: uuid.UUID
) -> tuple[Counter[str], Counter[str]]:
    """Per DAM connection name: the run's write-backs, and those settled."""

    async def read(session: AsyncSession) -> tuple[Counter[str], Counter[str]]:
        rows = await session.execute(
            select(Connection.name, WriteBack.status, func.count())
            .select_from(WriteBack)
            .join(Connection, Connection.id == WriteBack.connection_id)
            .where(WriteBack.run_id == run_id)
            .group_by(Connection.name, WriteBack.status)
        )
        totals: Counter[str] = Counter()
        settled: Counter[str] = Counter()
        for name, status, count in rows:
            totals[name] += count
            settled[name] += count if status in SETTLED else 0
        return totals, settled

    return await in_unit_of_work(sessionmaker, read, write=False)


def _check(run: RunDetail, what: str) -> None:
    if run.status != "succeeded":
        failed = [f"{s.stream}: {s.error}" for s in run.streams if s.error]
        detail = "; ".join(failed) or (run.error or run.status)
        raise CycleFailed(f"{what} run {run.id} ended {run.status}: {detail}")
