"""QUALITY R17, SQLite mode: the API process with its in-process worker and the scheduler's
ticker (what `syncbridge serve` runs on SQLite) takes 2,000 HubSpot events while applying
them, while the ticker syncs the connection and prunes the inbox every minute. No
"database is locked" surfaces anywhere (no 5xx to the sender, no job or event with that
error, no log line with it), and each event is handled once."""

from __future__ import annotations

import asyncio
import random
import signal
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.db import open_store
from syncbridge.models import JobRun
from syncbridge.models.base import utcnow
from syncbridge.schedule.catalog import INBOX_RETENTION, SYNC_INCREMENTAL
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.conftest import BACKEND
from tests.inbox_process_support import (
    SECRET_KEY,
    STREAMS,
    Sessionmaker,
    answering,
    api,
    check_exactly_once,
    connect,
    drain_follow_ups,
    free_port,
    fresh_state,
    inbox_at_rest,
    job_summary,
    outcome,
    send_all,
    served_hubspot,
    stored_state,
    storm,
)

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="R17 is SQLite's embedded mode")

#: 100 deals and 250 contacts.
ASSETS = 1000
EVENTS = 2_000
DUPLICATE_DELIVERIES = 200
SINGLES = 400
LOCKED = "database is locked"


async def _ticked_before(sessionmaker: Sessionmaker) -> None:
    """A ticker ran the jobs yesterday: the one starting now catches up the slot it missed
    (the last minute's) at once, besides ticking every minute."""
    day_ago = utcnow() - timedelta(days=1)

    async def write(session: AsyncSession) -> None:
        for name in (SYNC_INCREMENTAL, INBOX_RETENTION):
            session.add(
                JobRun(
                    name=name,
                    slot=day_ago,
                    status="succeeded",
                    owner="yesterday",
                    finished_at=day_ago,
                )
            )
        await session.flush()

    await in_unit_of_work(sessionmaker, write)


async def test_r17_api_and_worker_in_one_process_on_sqlite_never_surface_a_locked_database(
    settings: Settings, db_url: str, tmp_path: Path
) -> None:
    rng = random.Random(17)
    async with served_hubspot(tmp_path, ASSETS) as vendor, open_store(db_url) as sessionmaker:
        connection_id = await connect(sessionmaker, vendor.sim, vendor.base_url)
        await _ticked_before(sessionmaker)
        plan = storm(
            vendor,
            rng,
            distinct=EVENTS,
            duplicate_deliveries=DUPLICATE_DELIVERIES,
            singles=SINGLES,
        )
        port = free_port()
        # `serve` as it runs on SQLite: its worker and ticker in the API process. The ticker
        # has work every minute (and catches up the last minute's slot on start): a sync of
        # the connection and a prune of the inbox, among the events.
        server = api(
            db_url,
            tmp_path,
            port,
            SYNCBRIDGE_SCHEDULER_ENABLED="true",
            SYNCBRIDGE_SCHEDULE_SYNC_INCREMENTAL="* * * * *",
            SYNCBRIDGE_SCHEDULE_INBOX_RETENTION="* * * * *",
        )
        server.start()
        try:
            base = f"http://127.0.0.1:{port}"
            await answering(base + "/healthz", server, "the API")
            url = f"{base}/webhooks/{connection_id}"
            async with httpx.AsyncClient(timeout=120) as client:
                answers = await send_all(client, vendor.sim, [url], plan.deliveries, concurrency=16)
            for _ in range(1200):  # a bound that only stops a hung test
                if await inbox_at_rest(sessionmaker, connection_id):
                    break
                assert server.alive, server.output()[-4000:]
                await asyncio.sleep(0.25)
        finally:
            # uvicorn shuts down cleanly, then re-raises the SIGTERM it caught.
            assert server.stop() in (0, -signal.SIGTERM), server.output()[-4000:]
        local = settings.model_copy(
            update={"secret_key": SecretStr(SECRET_KEY), "allow_local_connections": True}
        )
        await drain_follow_ups(local, sessionmaker)
        result = await outcome(sessionmaker, connection_id)
        truth = await fresh_state(sessionmaker, connection_id, iter(vendor.objects()))

    assert answers.errors == []
    assert answers.statuses == {200: len(plan.deliveries)}
    assert answers.new == EVENTS
    assert LOCKED not in server.output().lower()
    assert [j.last_error for j in result.jobs if LOCKED in (j.last_error or "").lower()] == []
    assert [e.last_error for e in result.events if e.last_error] == []
    summary = job_summary(result.jobs)
    assert all(status == "done" for _, status in summary), summary
    check_exactly_once(result, plan, synced=True)
    # The ticker's sync ran among the events (it read the connection's streams).
    other_runs = {rs.run_id for rs in result.all_run_streams} - {r.id for r in result.runs}
    assert other_runs, "no sync ran beside the events"
    # Every deal and contact stored (by the events or the sync) is as the vendor has it.
    stored = {k: h for k, h in stored_state(result.records).items() if k[0] in STREAMS}
    assert stored == {key: truth[key] for key in stored}
