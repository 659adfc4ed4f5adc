"""Scoring after each sync: the metrics job a finished sync queues computes the facts and then
queues one scoring run, so a sync run through the worker ends with every asset's desired
performance tags, and a burst of computations makes one scoring run.

The worker runs on virtual time a day ahead (``ManualClock``), so the delayed metrics and
scoring jobs are ready as soon as they are queued; they still run in ``run_after`` order.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from syncbridge.bootstrap import load_default_taxonomy
from syncbridge.jobs import HandlerRegistry, Job, Outcome, Worker
from syncbridge.jobs.services import JobServices
from syncbridge.metrics.triggers import KIND, SCORING_ACTOR, links_rewritten
from syncbridge.models import Asset, DesiredTag, MetricFact, Run
from syncbridge.runs.schemas import RunCreate
from syncbridge.runs.service import start_run
from syncbridge.sandbox.world import World
from syncbridge.scoring.runs import SCORE_JOB
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.tagging.defaults import load_default_tag_rules
from tests.jobs_support import ManualClock
from tests.sandbox_support import EmbeddedWorld, embedded_world

pytest_plugins = ["tests.store_fixtures"]

Sessionmaker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def world(sessionmaker: Sessionmaker, tmp_path: Path) -> AsyncIterator[EmbeddedWorld]:
    """Every sandbox connection of a small world, with the default taxonomy and tag rule."""
    async with embedded_world(sessionmaker, World(seed=3, assets_count=40), tmp_path) as w:

        async def defaults(session: AsyncSession) -> None:
            await load_default_taxonomy(session)
            await load_default_tag_rules(session, "test")

        await in_unit_of_work(sessionmaker, defaults)
        yield w


def worker(engine: AsyncEngine, world: EmbeddedWorld) -> Worker:
    """A worker with every built-in handler and vendor access, on virtual time."""
    services = JobServices(connections=world.ctx, http=world.http)
    return Worker(
        engine, HandlerRegistry.load(), services=services, listen=False, clock=ManualClock()
    )


async def drain(w: Worker) -> list[str]:
    """Run jobs until none is ready; the kinds of the metrics and scoring jobs run, in order
    (a scoring run may queue others, such as write-backs)."""
    kinds: list[str] = []
    for _ in range(100):  # only stops a runaway queue
        claimed = await w.claim(1)
        if not claimed:
            return kinds
        [job] = claimed
        assert await w.execute(job) == Outcome.done, job.kind
        if job.kind in (KIND, SCORE_JOB):
            kinds.append(job.kind)
    raise AssertionError(f"the queue never emptied: {kinds}")


async def score_runs(sessionmaker: Sessionmaker) -> list[Run]:
    async def read(session: AsyncSession) -> list[Run]:
        stmt = select(Run).where(Run.kind == "score").order_by(Run.created_at)
        return list(await session.scalars(stmt))

    return await in_unit_of_work(sessionmaker, read, write=False)


async def test_a_sync_through_the_worker_ends_with_every_assets_desired_tags(
    world: EmbeddedWorld, engine: AsyncEngine, sessionmaker: Sessionmaker
) -> None:
    async def start(session: AsyncSession) -> uuid.UUID:
        run = await start_run(session, world.ctx, world.http, RunCreate(full=True), actor="test")
        return run.id

    sync_run = await in_unit_of_work(sessionmaker, start)

    kinds = await drain(worker(engine, world))

    # The computations (the sync's, and the re-link's after the default link rules were
    # loaded), then the one scoring run the first queued and the second found queued.
    assert kinds == [KIND, KIND, SCORE_JOB]
    [run] = await score_runs(sessionmaker)
    assert (run.status, run.requested_by) == ("succeeded", SCORING_ACTOR)

    async def read(session: AsyncSession) -> tuple[set[uuid.UUID], list[DesiredTag], int]:
        live = set(await session.scalars(select(Asset.id).where(Asset.deleted_at.is_(None))))
        tags = list(await session.scalars(select(DesiredTag)))
        facts = len(list(await session.scalars(select(MetricFact.id))))
        return live, tags, facts

    live, tags, facts = await in_unit_of_work(sessionmaker, read, write=False)
    assert facts > 0
    assert {t.asset_id for t in tags} == live
    assert {t.run_id for t in tags} == {run.id}
    ranked = [t for t in tags if t.percentile is not None]
    assert ranked, "some assets have enough views to be ranked"
    assert {t.concept for t in ranked} >= {"perf:top-10", "perf:bottom-25"}
    assert sync_run != run.id


async def test_a_burst_of_computations_makes_one_scoring_run(
    world: EmbeddedWorld, engine: AsyncEngine, sessionmaker: Sessionmaker
) -> None:
    await world.sync(full=True)  # queues its metrics computation

    async def burst(session: AsyncSession) -> None:
        await links_rewritten(session)
        await links_rewritten(session)

    await in_unit_of_work(sessionmaker, burst)

    async def jobs(session: AsyncSession, kind: str) -> list[Job]:
        return list(await session.scalars(select(Job).where(Job.kind == kind)))

    queued = await in_unit_of_work(sessionmaker, lambda s: jobs(s, KIND), write=False)
    # The sync's and the burst's; the re-link queued when the default link rules were
    # loaded queues one more when it runs.
    assert len(queued) == 3

    kinds = await drain(worker(engine, world))

    # The computations, then the one scoring run the first queued and the others found.
    assert kinds == [KIND, KIND, KIND, KIND, SCORE_JOB]
    [run] = await score_runs(sessionmaker)
    assert run.status == "succeeded"
    [job] = await in_unit_of_work(sessionmaker, lambda s: jobs(s, SCORE_JOB), write=False)
    assert job.payload == {"run_id": str(run.id)}

    # Once it has run, the next computation queues a new one.
    await in_unit_of_work(sessionmaker, links_rewritten)
    assert await drain(worker(engine, world)) == [KIND, SCORE_JOB]
    assert [r.status for r in await score_runs(sessionmaker)] == ["succeeded", "succeeded"]
