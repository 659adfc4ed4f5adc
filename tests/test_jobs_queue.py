"""The queue table: enqueue in the caller's transaction, dedupe among live jobs, claims in
run_after order under a lease, and no job claimed twice by concurrent claimers."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.jobs import ClaimedJob, JobStatus, enqueue
from syncbridge.jobs import repository as jobs
from syncbridge.store.unit_of_work import in_unit_of_work, unit_of_work
from tests.jobs_support import ManualClock, all_jobs, job_row, queue

pytest_plugins = ["tests.store_fixtures"]

LEASE = timedelta(seconds=60)


async def claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    *,
    kinds: tuple[str, ...] = ("k",),
    owner: str = "w1",
    limit: int = 10,
) -> list[ClaimedJob]:
    async def take(session: AsyncSession) -> list[ClaimedJob]:
        claimed, _dead = await jobs.claim(
            session,
            kinds=kinds,
            owner=owner,
            now=clock.now(),
            lease_expires_at=clock.now() + LEASE,
            limit=limit,
        )
        return claimed

    return await in_unit_of_work(sessionmaker, take)


async def test_a_job_exists_only_if_the_transaction_that_queued_it_commits(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    class Refused(Exception):
        pass

    async def queue_then_fail(session: AsyncSession) -> None:
        await enqueue(session, "k", {"n": 1})
        raise Refused

    with pytest.raises(Refused):
        await in_unit_of_work(sessionmaker, queue_then_fail)
    assert await all_jobs(sessionmaker) == []
    async with unit_of_work(sessionmaker) as session:
        job = await enqueue(session, "k", {"n": 2})
    [stored] = await all_jobs(sessionmaker)
    assert (stored.id, stored.payload, stored.status) == (job.id, {"n": 2}, "queued")
    assert (stored.attempts, stored.lease_token, stored.finished_at) == (0, None, None)


async def test_a_dedupe_key_held_by_a_live_job_returns_that_job(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    first = await queue(sessionmaker, "k", {"n": 1}, dedupe_key="sync:conn-1")
    # Many times over: PostgreSQL must still match the partial index once the prepared
    # INSERT runs on a generic plan (from its sixth execution).
    for n in range(2, 9):
        again = await queue(sessionmaker, "k", {"n": n}, dedupe_key="sync:conn-1")
        assert again == first
    other = await queue(sessionmaker, "k", {"n": 3}, dedupe_key="sync:conn-2")
    assert other != first
    rows = await all_jobs(sessionmaker)
    assert [(r.dedupe_key, r.payload) for r in rows] == [
        ("sync:conn-1", {"n": 1}),
        ("sync:conn-2", {"n": 3}),
    ]


async def test_a_dedupe_key_is_held_while_running_and_freed_when_the_job_finishes(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock()
    first = await queue(sessionmaker, "k", dedupe_key="key")
    [claimed] = await claim(sessionmaker, clock)
    assert await queue(sessionmaker, "k", dedupe_key="key") == first

    async def finish(session: AsyncSession) -> bool:
        return await jobs.finish(
            session, first, claimed.lease_token, status=JobStatus.done, now=clock.now()
        )

    assert await in_unit_of_work(sessionmaker, finish)
    second = await queue(sessionmaker, "k", dedupe_key="key")
    assert second != first
    assert [r.status for r in await all_jobs(sessionmaker)] == ["done", "queued"]


async def test_the_same_key_queued_twice_in_one_transaction_is_one_job(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with unit_of_work(sessionmaker) as session:
        a = await enqueue(session, "k", {}, dedupe_key="once")
        b = await enqueue(session, "k", {}, dedupe_key="once")
    assert a.id == b.id
    assert len(await all_jobs(sessionmaker)) == 1


async def test_claims_take_ready_jobs_oldest_run_after_first(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock()
    now = clock.now()
    later = await queue(sessionmaker, "k", {"n": "later"}, run_after=now - timedelta(seconds=1))
    oldest = await queue(sessionmaker, "k", {"n": "oldest"}, run_after=now - timedelta(seconds=3))
    middle = await queue(sessionmaker, "k", {"n": "middle"}, run_after=now - timedelta(seconds=2))
    future = await queue(sessionmaker, "k", {"n": "future"}, run_after=now + timedelta(seconds=9))
    await queue(sessionmaker, "other-kind")

    claimed = await claim(sessionmaker, clock, limit=2)
    assert [job.id for job in claimed] == [oldest, middle]
    assert [job.id for job in await claim(sessionmaker, clock)] == [later]
    assert await claim(sessionmaker, clock) == []
    clock.advance(9)
    [due] = await claim(sessionmaker, clock)
    assert (due.id, due.payload, due.attempt) == (future, {"n": "future"}, 1)


async def test_a_claim_leases_the_job_and_counts_an_attempt(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock()
    job_id = await queue(sessionmaker, "k", max_attempts=3)
    [claimed] = await claim(sessionmaker, clock, owner="worker-a")
    row = await job_row(sessionmaker, job_id)
    assert row.status == "running"
    assert (row.attempts, row.max_attempts) == (1, 3)
    assert (row.lease_owner, row.lease_token) == ("worker-a", claimed.lease_token)
    assert row.lease_expires_at == clock.now() + LEASE


async def test_a_running_job_is_claimed_again_only_once_its_lease_ran_out(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock()
    job_id = await queue(sessionmaker, "k")
    [first] = await claim(sessionmaker, clock, owner="a")
    clock.advance(LEASE.total_seconds())
    assert await claim(sessionmaker, clock, owner="b") == []  # expires at, not before
    clock.advance(1)
    [second] = await claim(sessionmaker, clock, owner="b")
    assert second.id == job_id
    assert second.attempt == 2
    assert second.lease_token != first.lease_token
    assert (await job_row(sessionmaker, job_id)).lease_owner == "b"


async def test_a_lease_that_ran_out_on_the_last_attempt_makes_the_job_dead(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock()
    job_id = await queue(sessionmaker, "k", max_attempts=1)
    await claim(sessionmaker, clock)
    clock.advance(LEASE.total_seconds() + 1)
    assert await claim(sessionmaker, clock) == []
    row = await job_row(sessionmaker, job_id)
    assert (row.status, row.attempts, row.lease_token) == ("dead", 1, None)
    assert (row.last_error or "").startswith("LeaseExpired")


async def test_only_the_current_lease_token_changes_a_running_job(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock()
    job_id = await queue(sessionmaker, "k")
    await claim(sessionmaker, clock)
    stale = uuid.uuid4()

    async def attempts(session: AsyncSession) -> list[bool]:
        now = clock.now()
        return [
            await jobs.renew(session, job_id, stale, now=now, until=now + LEASE),
            await jobs.finish(session, job_id, stale, status=JobStatus.done, now=now),
            await jobs.retry_later(
                session, job_id, stale, now=now, run_after=now, last_error="RuntimeError"
            ),
            await jobs.release(session, job_id, stale, now=now),
        ]

    assert await in_unit_of_work(sessionmaker, attempts) == [False] * 4
    row = await job_row(sessionmaker, job_id)
    assert (row.status, row.attempts, row.last_error) == ("running", 1, None)


async def test_a_release_requeues_the_job_at_once_and_gives_back_the_attempt(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock()
    job_id = await queue(sessionmaker, "k", run_after=clock.now() - timedelta(hours=1))
    [claimed] = await claim(sessionmaker, clock)
    clock.advance(5)

    async def release(session: AsyncSession) -> bool:
        return await jobs.release(session, job_id, claimed.lease_token, now=clock.now())

    assert await in_unit_of_work(sessionmaker, release)
    row = await job_row(sessionmaker, job_id)
    assert (row.status, row.attempts, row.lease_owner, row.lease_token) == (
        "queued",
        0,
        None,
        None,
    )
    assert row.run_after == clock.now()


async def test_eight_concurrent_claimers_never_claim_a_job_twice(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: BEGIN IMMEDIATE serialises the claims.
    clock = ManualClock()
    async with unit_of_work(sessionmaker) as session:
        queued = {(await enqueue(session, "k", {"n": n})).id for n in range(60)}
    start = asyncio.Event()

    async def claimer(name: str) -> list[uuid.UUID]:
        await start.wait()
        taken: list[uuid.UUID] = []
        while batch := await claim(sessionmaker, clock, owner=name, limit=3):
            taken.extend(job.id for job in batch)
        return taken

    tasks = [asyncio.create_task(claimer(f"w{i}")) for i in range(8)]
    start.set()
    results = await asyncio.gather(*tasks)
    everything = [job_id for taken in results for job_id in taken]
    assert len(everything) == len(set(everything)) == 60
    assert set(everything) == queued
    rows = await all_jobs(sessionmaker)
    assert {(r.status, r.attempts) for r in rows} == {("running", 1)}
    # Each row names the claimer that got it.
    owners = {job_id: f"w{i}" for i, taken in enumerate(results) for job_id in taken}
    assert all(r.lease_owner == owners[r.id] for r in rows)


async def test_enqueue_refuses_a_kind_or_key_the_columns_cannot_hold(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with unit_of_work(sessionmaker) as session:
        with pytest.raises(ValueError, match="kind"):
            await enqueue(session, "k" * 101, {})
        with pytest.raises(ValueError, match="dedupe key"):
            await enqueue(session, "k", {}, dedupe_key="x" * 201)
        with pytest.raises(ValueError, match="max_attempts"):
            await enqueue(session, "k", {}, max_attempts=0)
    assert await all_jobs(sessionmaker) == []


async def test_two_transactions_queueing_one_key_at_once_make_one_job(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # The second waits on the first (its insert on PostgreSQL, BEGIN IMMEDIATE on SQLite),
    # then finds the first's job instead of adding one.
    first_in, first_may_commit = asyncio.Event(), asyncio.Event()

    async def first() -> uuid.UUID:
        async with unit_of_work(sessionmaker) as session:
            job = await enqueue(session, "k", {"by": "first"}, dedupe_key="same")
            first_in.set()
            await first_may_commit.wait()
        return job.id

    async def second() -> uuid.UUID:
        await first_in.wait()
        async with unit_of_work(sessionmaker) as session:
            return (await enqueue(session, "k", {"by": "second"}, dedupe_key="same")).id

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await first_in.wait()
    await asyncio.sleep(0.05)  # lets the second reach its insert; either order is correct
    first_may_commit.set()
    first_id, second_id = await asyncio.gather(*tasks)
    assert first_id == second_id
    assert [r.payload for r in await all_jobs(sessionmaker)] == [{"by": "first"}]
