"""`syncbridge score` through the real CLI: it queues a scoring run as `POST /v1/runs` does,
runs its job in its own worker with a progress bar per tag rule, and ends with a summary
per rule (assets, tiers, changed).

Assets and facts are written directly (no vendor), with the default taxonomy and tag rule;
the assets are unclassified, so the rule ranks them all in one cohort. Asset ``a<i>`` has
``i`` key events and 20 views a day over 10 days; ``thin`` has too few views to be ranked.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest
from rich.progress import Progress
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from syncbridge.bootstrap import load_default_taxonomy
from syncbridge.cli.main import app
from syncbridge.cli.score import RuleLine, ScoreWatch, follow
from syncbridge.db import open_store
from syncbridge.jobs import HandlerRegistry, Worker
from syncbridge.models import (
    Asset,
    AuditEntry,
    Connection,
    DesiredTag,
    Job,
    MetricFact,
    Run,
    TagRule,
)
from syncbridge.runs.schemas import RunDetail
from syncbridge.runs.service import show_run
from syncbridge.scoring.jobs import score_run_handler
from syncbridge.scoring.runs import SCORE_JOB, queue_score_run
from syncbridge.settings import get_settings
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.tagging.defaults import load_default_tag_rules

runner = CliRunner()
LAST_DAY = date(2026, 11, 20)
ASSETS = {**{f"a{i}": (i, 20) for i in range(1, 11)}, "thin": (5, 5)}
RULE = "Key-event rate per view, by asset type and channel, last 28 days"


async def _seed(url: str) -> None:
    async def work(session: AsyncSession) -> None:
        await load_default_taxonomy(session)
        await load_default_tag_rules(session, "test")
        ga4 = Connection(connector_key="ga4", name="GA4")
        dam = Connection(connector_key="bynder", name="Bynder")
        session.add_all([ga4, dam])
        await session.flush()
        for name, (key_events, views) in ASSETS.items():
            asset = Asset(
                connection_id=dam.id, stream="media", external_id=name, data={}, content_hash="h"
            )
            session.add(asset)
            await session.flush()
            for back in range(10):
                for metric, value in (("key_events", key_events), ("views", views)):
                    session.add(
                        MetricFact(
                            asset_id=asset.id,
                            day=LAST_DAY - timedelta(days=back),
                            metric=metric,
                            connection_id=ga4.id,
                            value=Decimal(value),
                            records=1,
                        )
                    )

    async with open_store(url) as sessionmaker:
        await in_unit_of_work(sessionmaker, work)


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The store seeded, and the CLI pointed at it."""
    asyncio.run(_seed(db_url))
    monkeypatch.setenv("SYNCBRIDGE_DATABASE_URL", db_url)
    monkeypatch.setenv("SYNCBRIDGE_WORKER_POLL_INTERVAL_S", "0.05")
    monkeypatch.setenv("COLUMNS", "250")
    get_settings.cache_clear()
    yield db_url
    get_settings.cache_clear()


def stored(url: str) -> tuple[list[tuple[str, str]], int, list[str]]:
    """(score runs' status and requester, desired tags, audit actions) in the store."""

    async def read() -> tuple[list[tuple[str, str]], int, list[str]]:
        async with open_store(url) as sessionmaker, sessionmaker() as session:
            runs = [
                (r.status, r.requested_by)
                for r in await session.scalars(select(Run).where(Run.kind == "score"))
            ]
            tags = len(list(await session.scalars(select(DesiredTag.id))))
            actions = list(await session.scalars(select(AuditEntry.action)))
            return runs, tags, actions

    return asyncio.run(read())


def row(output: str, first: str) -> list[str]:
    """The cells of the first summary row whose text contains ``first``."""
    line = next(line for line in output.splitlines() if first in line and "│" in line)
    return [cell.strip() for cell in line.strip().strip("│").split("│")]


def test_score_runs_the_run_in_process_and_summarises_each_rule(cli: str) -> None:
    result = runner.invoke(app, ["score"])
    assert result.exit_code == 0, result.output
    runs, tags, actions = stored(cli)
    assert runs == [("succeeded", "cli")]
    assert tags == len(ASSETS)
    assert "run.start" in actions
    assert "1 tag rule(s) over 11 asset(s)" in result.output
    cells = row(result.output, RULE[:30])
    assert cells[1:3] == ["1", "2026-10-24 to 2026-11-20"]
    assert cells[3] == "11"  # assets
    # Tiers in the rule's order, then the insufficient concept.
    assert cells[4] == (
        "perf:top-10 1  perf:top-25 2  perf:middle 4  perf:bottom-25 3  perf:insufficient-data 1"
    )
    assert cells[5:] == ["11", "0", "0"]  # changed, unchanged, removed

    again = runner.invoke(app, ["score"])
    assert again.exit_code == 0, again.output
    assert row(again.output, RULE[:30])[5:] == ["0", "11", "0"]
    assert [status for status, _ in stored(cli)[0]] == ["succeeded", "succeeded"]


def test_with_no_enabled_rule_the_run_scores_nothing_and_says_so(cli: str) -> None:
    async def disable() -> None:
        async with open_store(cli) as sessionmaker:
            await in_unit_of_work(
                sessionmaker, lambda s: s.execute(update(TagRule).values(enabled=False))
            )

    asyncio.run(disable())
    result = runner.invoke(app, ["score"])
    assert result.exit_code == 0, result.output
    assert "No enabled tag rules" in result.output
    assert stored(cli)[:2] == ([("succeeded", "cli")], 0)


async def queued(session: AsyncSession) -> RunDetail:
    """A scoring run queued with its job (what `POST /v1/runs` and the command queue)."""
    run = await queue_score_run(session, requested_by="cli")
    return await show_run(session, run.id)


def test_the_bars_move_with_each_batch_and_end_full(cli: str) -> None:
    # The command's handler and watch, with the bars read back instead of drawn.
    async def scenario() -> list[tuple[str, float, float | None]]:
        async with open_store(cli) as sessionmaker:

            async def start(session: AsyncSession) -> tuple[uuid.UUID, list[RuleLine]]:
                run = await queued(session)
                rule = (await session.scalars(select(TagRule))).one()
                return run.id, [RuleLine(rule.id, rule.name, ())]

            run_id, rules = await in_unit_of_work(sessionmaker, start)
            with Progress(disable=True) as progress:
                watch = ScoreWatch(progress, rules, 11)
                seen: list[int] = []

                def advance(rule_id: uuid.UUID, assets: int) -> None:
                    seen.append(assets)
                    watch.advance(rule_id, assets)

                registry = HandlerRegistry()
                registry.register(SCORE_JOB, score_run_handler(advance))
                engine = sessionmaker.kw["bind"]
                assert await Worker(engine, registry, listen=False).run_once()
                assert seen == [11]  # one batch of every asset
                [task] = progress.tasks
                moved = (task.description, task.completed, task.total)
                run = await in_unit_of_work(
                    sessionmaker, lambda s: show_run(s, run_id), write=False
                )
                presses: asyncio.Queue[None] = asyncio.Queue()
                await follow(sessionmaker, run, watch, presses)
                return [moved, (task.description, task.completed, task.total)]

    moved, ended = asyncio.run(scenario())
    assert moved == (RULE[:59] + "…", 11, 11)
    assert ended == (RULE[:59] + "…", 11, 11)


def test_ctrl_c_cancels_a_queued_run(cli: str) -> None:
    async def scenario() -> tuple[str, str, str]:
        async with open_store(cli) as sessionmaker:
            run = await in_unit_of_work(sessionmaker, queued)
            before = run.status
            presses: asyncio.Queue[None] = asyncio.Queue()
            presses.put_nowait(None)
            with Progress(disable=True) as progress:
                after = await follow(sessionmaker, run, ScoreWatch(progress, [], 0), presses)

            async def job(session: AsyncSession) -> str:
                return (
                    await session.scalars(select(Job.status).where(Job.kind == SCORE_JOB))
                ).one()

            return before, after.status, await in_unit_of_work(sessionmaker, job, write=False)

    assert asyncio.run(scenario()) == ("queued", "cancelled", "cancelled")
    assert "run.cancel" in stored(cli)[2]


def test_help_names_the_command() -> None:
    result = runner.invoke(app, ["score", "--help"])
    assert result.exit_code == 0
    assert "progress bar per rule" in result.output
