"""`syncbridge reconcile` through the real CLI: it queues the run with its job, runs it in its
own worker with a progress bar per DAM stream, and ends with a drift summary. The local
folder DAM needs no vendor on the network."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from syncbridge.cli.main import app
from syncbridge.db import open_store
from syncbridge.models import InboxEvent, Run

runner = CliRunner()


pytest_plugins = ["tests.cli_support"]
#: The sandbox world's size (tests.cli_support).
SANDBOX_ASSETS = 20


def stored(url: str) -> tuple[list[Run], list[InboxEvent]]:
    async def read() -> tuple[list[Run], list[InboxEvent]]:
        async with open_store(url) as sessionmaker, sessionmaker() as session:
            runs = list(await session.scalars(select(Run).where(Run.kind == "reconcile")))
            events = list(await session.scalars(select(InboxEvent)))
            return runs, events

    return asyncio.run(read())


def test_reconcile_reports_a_file_gone_from_the_folder_and_feeds_it_to_the_inbox(
    cli: str, folder: Path
) -> None:
    synced = runner.invoke(app, ["sync", "sandbox-localfolder", "--full"])
    assert synced.exit_code == 0, synced.output
    files = sorted(p for p in (folder / "localfolder").rglob("*") if p.is_file())
    gone = next(p for p in files if p.suffix != ".xmp" and not p.name.startswith("."))
    gone.unlink()

    result = runner.invoke(app, ["reconcile", "sandbox-localfolder"])

    assert result.exit_code == 0, result.output
    assert "Reconciliation" in result.output
    line = next(x for x in result.output.splitlines() if "sandbox-localfolder" in x and "│" in x)
    cells = [c.strip() for c in line.strip().strip("│").split("│")]
    # connection, status, read, new, changed, missing, tag_drift, calls, error
    assert cells[1] == "succeeded"
    assert cells[3:7] == ["0", "0", "1", "0"], cells
    assert "missing: 1, e.g." in result.output
    [run], events = stored(cli)
    assert run.status == "succeeded"
    assert run.report is not None
    assert run.report["counts"]["missing"] == 1
    [event] = events
    assert (event.action, event.status) == ("deleted", "pending")
    assert event.external_id == gone.relative_to(folder / "localfolder").as_posix()


def test_reconcile_of_an_unknown_connection_says_so(cli: str) -> None:
    result = runner.invoke(app, ["reconcile", "no-such-connection"])
    assert result.exit_code == 2
    assert "No connection named" in result.output
    assert stored(cli) == ([], [])
