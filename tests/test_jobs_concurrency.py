"""One writer per connection: jobs sharing a concurrency key never run at once, whatever the
number of workers; jobs with different keys (or none) run side by side; a later job of a
busy key waits, queued, instead of failing."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from syncbridge.db import create_engine
from syncbridge.jobs import (
    ClaimedJob,
    HandlerRegistry,
    JobContext,
    JobStatus,
    Worker,
    WorkerConfig,
)
from syncbridge.jobs import repository as jobs
from syncbridge.store.unit_of_work import in_unit_of_work, unit_of_work
from tests.conftest import BACKEND
from tests.jobs_support import ManualClock, all_jobs, eventually, finished, job_row, queue

pytest_plugins = ["tests.store_fixtures"]

LEASE = timedelta(seconds=60)


async def claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    *,
    owner: str = "w1",
    limit: int = 10,
    only: list[uuid.UUID] | None = None,
) -> list[ClaimedJob]:
    async def take(session: AsyncSession) -> list[ClaimedJob]:
        claimed, _dead = await jobs.claim(
            session,
            kinds=("k",),
            owner=owner,
            now=clock.now(),
            lease_expires_at=clock.now() + LEASE,
            limit=limit,
            only=only,
        )
        return claimed

    return await in_unit_of_work(sessionmaker, take)


async def finish(
    sessionmaker: async_sessionmaker[AsyncSession], job: ClaimedJob, clock: ManualClock
) -> None:
    async def done(session: AsyncSession) -> bool:
        return await jobs.finish(
            session, job.id, job.lease_token, status=JobStatus.done, now=clock.now()
        )

    assert await in_unit_of_work(sessionmaker, done)


async def test_a_claim_takes_one_job_per_key_and_skips_keys_held_by_running_jobs(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock()
    first = await queue(sessionmaker, "k", concurrency_key="connection:a")
    second = await queue(sessionmaker, "k", concurrency_key="connection:a")
    other = await queue(sessionmaker, "k", concurrency_key="connection:b")
    free = await queue(sessionmaker, "k")
    taken = await claim(sessionmaker, clock)
    assert {j.id for j in taken} == {first, other, free}
    assert {j.concurrency_key for j in taken} == {"connection:a", "connection:b", None}
    # The second job of key a waits (queued, not failed) while the first runs...
    assert await claim(sessionmaker, clock) == []
    assert (await job_row(sessionmaker, second)).status == "queued"
    # ...and runs once the first has finished.
    await finish(sessionmaker, next(j for j in taken if j.id == first), clock)
    assert [j.id for j in await claim(sessionmaker, clock)] == [second]


async def test_a_key_held_by_a_job_whose_lease_ran_out_is_free_again(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock()
    stalled = await queue(sessionmaker, "k", concurrency_key="connection:a")
    waiting = await queue(sessionmaker, "k", concurrency_key="connection:a")
    assert [j.id for j in await claim(sessionmaker, clock, owner="w1")] == [stalled]
    clock.advance(LEASE.total_seconds() + 1)
    # The stalled job is taken over (oldest first); still only one job of the key runs.
    retaken = await claim(sessionmaker, clock, owner="w2")
    assert [j.id for j in retaken] == [stalled]
    assert (await job_row(sessionmaker, waiting)).status == "queued"


async def test_a_worker_told_which_jobs_claims_only_those(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock()
    mine = await queue(sessionmaker, "k")
    await queue(sessionmaker, "k")
    assert [j.id for j in await claim(sessionmaker, clock, only=[mine])] == [mine]
    assert await claim(sessionmaker, clock, only=[mine]) == []


@pytest.mark.skipif(BACKEND != "postgresql", reason="SQLite claimers are serialised whole")
async def test_two_claims_in_flight_at_once_never_lease_two_jobs_of_one_key(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock()
    first = await queue(sessionmaker, "k", concurrency_key="connection:a")
    await queue(sessionmaker, "k", concurrency_key="connection:a")
    other = await queue(sessionmaker, "k", concurrency_key="connection:b")
    async with unit_of_work(sessionmaker) as session:
        held, _dead = await jobs.claim(
            session,
            kinds=("k",),
            owner="w1",
            now=clock.now(),
            lease_expires_at=clock.now() + LEASE,
            limit=1,
        )
        assert [j.id for j in held] == [first]
        # w1 has not committed: its lease is invisible to w2, the key's lock is not.
        assert [j.id for j in await claim(sessionmaker, clock, owner="w2")] == [other]
    assert await claim(sessionmaker, clock, owner="w3") == []


class Overlaps:
    """What the handlers saw: jobs of one key running together (must never happen) and jobs
    of different keys running together (must happen)."""

    def __init__(self) -> None:
        self.active: Counter[str] = Counter()
        self.same_key_overlaps = 0
        self.keys_together = asyncio.Event()
        self.ran: list[str] = []

    async def handle(self, ctx: JobContext) -> None:
        key = str(ctx.payload["key"])
        self.active[key] += 1
        try:
            if self.active[key] > 1:
                self.same_key_overlaps += 1
            if len([k for k, n in self.active.items() if n > 0]) > 1:
                self.keys_together.set()
            if ctx.payload["first"]:
                # The first job of each key waits until one of another key runs beside it:
                # if different keys could not overlap, this never ends and the test fails.
                await asyncio.wait_for(self.keys_together.wait(), timeout=60)
            for _ in range(5):
                await asyncio.sleep(0)  # let the other workers claim meanwhile
            self.ran.append(key)
        finally:
            self.active[key] -= 1


@pytest.mark.skipif(BACKEND != "postgresql", reason="several workers need PostgreSQL")
async def test_three_workers_never_run_two_jobs_of_one_key_at_once(
    db_url: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    overlaps = Overlaps()
    registry = HandlerRegistry()
    registry.register("k", overlaps.handle)
    for n in range(8):
        for key in ("connection:a", "connection:b"):
            payload = {"key": key, "first": n == 0}
            await queue(sessionmaker, "k", payload, concurrency_key=key)
    config = WorkerConfig(concurrency=4, lease_s=60, poll_interval_s=0.05, grace_s=5)
    engines: list[AsyncEngine] = [create_engine(db_url) for _ in range(3)]
    workers = [Worker(e, registry, config=config, owner=f"w{i}") for i, e in enumerate(engines)]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:

        async def all_done() -> bool:
            return {j.status for j in await all_jobs(sessionmaker)} == {"done"}

        await eventually(all_done, "every job ran")
    finally:
        for worker in workers:
            worker.stop()
        await finished(asyncio.gather(*tasks))
        for engine in engines:
            await engine.dispose()
    assert overlaps.same_key_overlaps == 0
    assert overlaps.keys_together.is_set()
    assert Counter(overlaps.ran) == {"connection:a": 8, "connection:b": 8}
    owners = {j.lease_owner for j in await all_jobs(sessionmaker)}
    assert owners == {None}  # finished jobs hold no lease
