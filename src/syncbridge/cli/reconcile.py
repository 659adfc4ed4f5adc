"""``syncbridge reconcile``: queue a reconciliation run, follow its full reads live, and
summarise the drift it found.

The run and its job are written in one unit of work, exactly as ``POST /v1/runs`` writes
them; by default this process then also runs a worker that claims only that job (a worker
elsewhere may take it first: then the command just watches). What the run queues (the inbox
events that apply the differences, the repair write-backs, the re-read syncs) is left to
``syncbridge worker`` or ``serve``. Ctrl-C cancels the run at its next page.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.cli.sync import (
    ACTOR,
    Sessionmaker,
    _connection,
    console,
    exit_for,
    start_and_follow,
)
from syncbridge.errors import SyncbridgeError
from syncbridge.jobs.services import JobServices
from syncbridge.models import Connection
from syncbridge.reconcile.report import KINDS
from syncbridge.reconcile.service import job_of
from syncbridge.runs import service
from syncbridge.runs.schemas import RunCreate, RunDetail
from syncbridge.settings import get_settings
from syncbridge.store.unit_of_work import in_unit_of_work


async def _start(
    sessionmaker: Sessionmaker, services: JobServices, ref: str | None
) -> tuple[RunDetail, list[uuid.UUID], dict[uuid.UUID, str]]:
    """The queued run, its job's id and the names of the connections it reads."""

    async def start(session: AsyncSession) -> tuple[RunDetail, list[uuid.UUID]]:
        connection_id = None if ref is None else (await _connection(session, ref)).id
        body = RunCreate(kind="reconcile", connection_id=connection_id)
        run = await service.start_run(
            session, services.connections, services.http, body, actor=ACTOR
        )
        job = await job_of(session, run.id)
        return run, [job.id] if job is not None else []

    run, jobs = await in_unit_of_work(sessionmaker, start)

    async def names(session: AsyncSession) -> dict[uuid.UUID, str]:
        rows = await session.execute(select(Connection.id, Connection.name))
        return {row[0]: str(row[1]) for row in rows}

    return run, jobs, await in_unit_of_work(sessionmaker, names, write=False)


def _drift_table(run: RunDetail, report: dict[str, Any]) -> Table:
    table = Table(title=f"Reconciliation {run.id}: {run.status}", title_justify="left")
    for header in ("connection", "status", "read", *KINDS, "calls", "error"):
        numeric = header not in ("connection", "status", "error")
        table.add_column(header, justify="right" if numeric else "left", overflow="fold")
    for c in report.get("connections", []):
        colour = {"succeeded": "green", "failed": "red"}.get(c["status"], "yellow")
        table.add_row(
            c["name"],
            f"[{colour}]{c['status']}[/{colour}]",
            *(f"{c[k]:,}" for k in ("read", *KINDS, "vendor_calls")),
            c.get("error") or "",
        )
    return table


def _summary(run: RunDetail) -> None:
    report = run.report or {}
    console.print(_drift_table(run, report))
    counts = report.get("counts", {})
    examples = report.get("examples", {})
    for kind in KINDS:
        if examples.get(kind):
            shown = ", ".join(f"{e['connection']}/{e['external_id']}" for e in examples[kind])
            console.print(f"  {kind}: {counts.get(kind, 0):,}, e.g. {shown}")
    rereads = report.get("rereads", {})
    console.print(
        f"Inbox events queued: {report.get('events_queued', 0):,}; repair write-backs "
        f"planned: {report.get('writebacks_planned', 0):,}; vendor calls: "
        f"{report.get('vendor_calls', 0):,}; re-read runs: CRM {len(rereads.get('crm', []))}, "
        f"analytics {len(rereads.get('analytics', []))}."
    )
    if report.get("events_queued") or report.get("writebacks_planned"):
        console.print(
            "A worker (`syncbridge worker` or `serve`) applies the events and sends the "
            f"write-backs; the report stays at /v1/runs/{run.id}."
        )


def reconcile(
    connection: Annotated[
        str | None,
        typer.Argument(help="The connection's name or id; none: every enabled connection."),
    ] = None,
    work: Annotated[
        bool,
        typer.Option(
            "--work/--no-work",
            help="Also run the reconciliation in this process (default), or only watch it "
            "being run by `syncbridge worker` / `serve`.",
        ),
    ] = True,
) -> None:
    """Reconcile one connection (or every enabled one): read each DAM in full and compare it
    with the store (new, changed and missing assets become inbox events; owned tags changed
    by hand get a repair write-back), re-read CRM and analytics over their late-data window,
    with a live progress bar per DAM stream and a summary of the drift. Exits 1 when the run
    failed and 130 when it was cancelled (Ctrl-C cancels it at its next page)."""
    settings = get_settings()
    try:
        run, _names = asyncio.run(
            start_and_follow(
                settings,
                lambda store, services: _start(store, services, connection),
                lambda run, _jobs: (
                    f"Reconciliation {run.id} queued: {len(run.streams)} DAM stream(s)."
                ),
                work=work,
            )
        )
    except SyncbridgeError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from None
    _summary(run)
    exit_for(run)


__all__ = ["reconcile"]
