"""`syncbridge sync` through the real CLI: it queues the run with its jobs, runs them in its
own worker, and ends with a summary table and an exit code that says how the run went.
File-based sandbox connections (local folder, CSV exports) need no vendor on the network."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from syncbridge.cli.main import app
from syncbridge.cli.sync import progress_total
from syncbridge.db import open_store
from syncbridge.models import Asset, AuditEntry, Run
from syncbridge.runs.schemas import RunStreamOut
from syncbridge.settings import get_settings

runner = CliRunner()


pytest_plugins = ["tests.cli_support"]


def stored(url: str) -> tuple[int, list[str], list[str]]:
    """(assets, run statuses, audit actions) in the store."""

    async def read() -> tuple[int, list[str], list[str]]:
        async with open_store(url) as sessionmaker, sessionmaker() as session:
            assets = (await session.execute(select(func.count(Asset.id)))).scalar_one()
            runs = list(await session.scalars(select(Run.status)))
            actions = list(await session.scalars(select(AuditEntry.action)))
            return assets, runs, actions

    return asyncio.run(read())


def row(output: str, first: str) -> list[str]:
    """The cells of the first summary row whose text contains ``first``."""
    line = next(line for line in output.splitlines() if first in line and "│" in line)
    return [cell.strip() for cell in line.strip().strip("│").split("│")]


def test_sync_by_name_runs_the_run_in_process_and_summarises_it(cli: str) -> None:
    result = runner.invoke(app, ["sync", "sandbox-localfolder", "--full"])
    assert result.exit_code == 0, result.output
    assets, runs, actions = stored(cli)
    assert assets > 0
    assert runs == ["succeeded"]
    assert "run.start" in actions
    cells = row(result.output, "sandbox-localfolder")
    assert cells[:3] == ["sandbox-localfolder", "files", "succeeded"]
    assert int(cells[3].replace(",", "")) == assets  # read
    assert int(cells[4].replace(",", "")) == assets  # inserted
    again = runner.invoke(app, ["sync", "sandbox-localfolder"])
    assert again.exit_code == 0, again.output
    assert row(again.output, "sandbox-localfolder")[4:7] == ["0", "0", "0"]


def test_a_stream_option_limits_the_run_and_an_unknown_one_is_refused(cli: str) -> None:
    unknown = runner.invoke(app, ["sync", "sandbox-csv", "--stream", "nope"])
    assert unknown.exit_code == 2
    assert "no stream 'nope'" in unknown.output
    assert stored(cli)[1] == []
    limited = runner.invoke(app, ["sync", "sandbox-csv", "--stream", "deals"])
    assert limited.exit_code == 0, limited.output
    assert row(limited.output, "sandbox-csv")[:3] == ["sandbox-csv", "deals", "succeeded"]
    assert "ga4_pages" not in limited.output


def test_an_unknown_connection_exits_2_and_writes_nothing(cli: str) -> None:
    result = runner.invoke(app, ["sync", "no-such-connection"])
    assert result.exit_code == 2
    assert "No connection named or with id 'no-such-connection'" in result.output
    assert stored(cli)[1] == []


def test_a_failed_run_exits_1_and_shows_the_streams_error(cli: str, folder: Path) -> None:
    # A CRM export that lost its header row: the stream reading it fails, with why.
    (folder / "csv" / "crm" / "deals.csv").write_text("1;2;3\n4;5;6\n", encoding="utf-8")
    result = runner.invoke(app, ["sync", "sandbox-csv"])
    assert result.exit_code == 1, result.output
    assert stored(cli)[1] == ["failed"]
    failed = [line for line in result.output.splitlines() if "│ failed" in line]
    assert failed, result.output


def test_ctrl_c_cancels_the_run(cli: str) -> None:
    # The command's watch loop, with Ctrl-C presses queued as its signal handler queues them
    # (no worker runs: the run stays queued until the first press cancels it at once).
    from rich.progress import Progress

    from syncbridge.cli.sync import Watch, _follow, _start
    from syncbridge.jobs.services import job_services

    async def scenario() -> tuple[str, str]:
        settings = get_settings()
        async with job_services(settings) as services, open_store(cli) as store:
            run, _jobs, names = await _start(store, services, "sandbox-csv", False, None)
            presses: asyncio.Queue[None] = asyncio.Queue()
            presses.put_nowait(None)
            with Progress(disable=True) as progress:
                after = await _follow(store, run, Watch(progress, names), presses)
            return run.status, after.status

    before, after = asyncio.run(scenario())
    assert (before, after) == ("queued", "cancelled")
    assert stored(cli)[1] == ["cancelled"]
    assert "run.cancel" in stored(cli)[2]


def test_a_streams_bar_has_a_total_and_so_an_eta_only_when_the_vendor_reports_one() -> None:
    def stream(status: str, read: int, expected: int | None) -> RunStreamOut:
        return RunStreamOut(
            connection_id=uuid.uuid4(),
            stream="Contact",
            entity="record",
            status=status,
            pages=1,
            read=read,
            inserted=read,
            updated=0,
            unchanged=0,
            deleted=0,
            rejected=0,
            vendor_calls=1,
            rate_limited=0,
            expected=expected,
            error=None,
            started_at=None,
            finished_at=None,
        )

    assert progress_total(stream("running", 40, 100)) == 100
    assert progress_total(stream("running", 40, None)) is None  # pulses, no ETA
    assert progress_total(stream("running", 120, 100)) == 120  # an overcount never shrinks
    assert progress_total(stream("succeeded", 98, 100)) == 98
