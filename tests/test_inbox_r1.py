"""QUALITY R1, the duplicate and crash storm: 10,000 distinct HubSpot events and 2,000
duplicate deliveries, shuffled, POSTed through the webhook receiver while the `syncbridge
worker` process applying them is killed with SIGKILL five times at random points and started
again. Every event has exactly one effect, and the queue comes to rest."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.app import create_app
from syncbridge.inbox.service import PROCESS_JOB
from syncbridge.models import InboxEvent
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.inbox_process_support import (
    PUBLIC_URL,
    SECRET_KEY,
    Child,
    Sessionmaker,
    check_exactly_once,
    connect,
    drain_follow_ups,
    fresh_state,
    inbox_at_rest,
    job_summary,
    outcome,
    send_all,
    served_hubspot,
    stored_state,
    storm,
    worker,
)

pytestmark = pytest.mark.embedded_worker(False)

#: 300 deals and 750 contacts: about ten events per object.
ASSETS = 3000
DISTINCT = 10_000
DUPLICATE_DELIVERIES = 2_000
SINGLES = 500
KILLS = 5
#: Small batches: more fenced transactions (and settles) for the kills to land between.
BATCH = 200


async def _handled(sessionmaker: Sessionmaker) -> int:
    async def count(session: AsyncSession) -> int:
        statement = select(func.count()).where(InboxEvent.status == "handled")
        return int((await session.execute(statement)).scalar_one())

    return await in_unit_of_work(sessionmaker, count, write=False)


async def _kill_at_a_random_point(
    sessionmaker: Sessionmaker, process: Child, target: int, rng: random.Random
) -> None:
    """SIGKILL ``process`` somewhere after ``target`` events are handled and after it has
    applied events itself (not while it starts): while it fetches, writes, settles or
    claims."""
    started_at = await _handled(sessionmaker)
    while (handled := await _handled(sessionmaker)) < target or handled == started_at:
        assert process.alive, process.output()[-4000:]
        await asyncio.sleep(0.02)
    await asyncio.sleep(rng.uniform(0, 0.4))
    assert process.alive, process.output()[-4000:]
    process.kill()


async def test_r1_every_event_has_one_effect_through_duplicates_and_worker_kills(
    settings: Settings, db_url: str, tmp_path: Path
) -> None:
    rng = random.Random(20261201)
    local = settings.model_copy(
        update={
            "secret_key": SecretStr(SECRET_KEY),
            "allow_local_connections": True,
            "public_url": PUBLIC_URL,
            "inbox_debounce_s": 0.0,
        }
    )
    async with served_hubspot(tmp_path, ASSETS) as vendor:
        app = create_app(local)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL, timeout=120
            ) as client,
        ):
            sessionmaker: Sessionmaker = app.state.sessionmaker
            connection_id = await connect(sessionmaker, vendor.sim, vendor.base_url)
            plan = storm(
                vendor,
                rng,
                distinct=DISTINCT,
                duplicate_deliveries=DUPLICATE_DELIVERIES,
                singles=SINGLES,
            )
            assert plan.duplicate_deliveries == DUPLICATE_DELIVERIES
            processor = worker(db_url, tmp_path, SYNCBRIDGE_INBOX_BATCH=str(BATCH))
            processor.start()
            try:
                url = f"{PUBLIC_URL}/webhooks/{connection_id}"
                sending = asyncio.create_task(
                    send_all(client, vendor.sim, [url], plan.deliveries, concurrency=16)
                )
                targets = sorted(rng.sample(range(300, DISTINCT - 1500), KILLS))
                for target in targets:
                    await _kill_at_a_random_point(sessionmaker, processor, target, rng)
                    processor.start()
                answers = await sending
                assert processor.starts == KILLS + 1
                for _ in range(1200):  # a bound that only stops a hung test
                    if await inbox_at_rest(sessionmaker, connection_id):
                        break
                    assert processor.alive, processor.output()[-4000:]
                    await asyncio.sleep(0.25)
            finally:
                assert processor.stop() == 0, processor.output()[-4000:]
            # What the storm queued ended under the killed and restarted worker; the metric
            # facts and scoring its runs queued (each held back 30 s on purpose) end too.
            await drain_follow_ups(local, sessionmaker)
            result = await outcome(sessionmaker, connection_id)
            summary = job_summary(result.jobs)
            assert all(status == "done" for _, status in summary), summary
            # The kills took jobs from their worker: another attempt finished them.
            assert max(j.attempts for j in result.jobs if j.kind == PROCESS_JOB) > 1

            # Duplicates stored nothing; every delivery was taken.
            assert answers.errors == []
            assert answers.statuses == {200: len(plan.deliveries)}
            assert answers.received == plan.events_sent
            assert answers.new == DISTINCT
            check_exactly_once(result, plan)
            # The store holds each object's state as the vendor has it now.
            assert stored_state(result.records) == await fresh_state(
                sessionmaker, connection_id, iter(sorted(plan.objects))
            )
            assert sum(rs.updated for rs in result.run_streams) == 0
