"""QUALITY R11: a sync process killed with SIGKILL at random pages, again and again, then
resumed, leaves the store an uninterrupted run leaves; no page is skipped or written twice."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import func, select

from syncbridge.connector.http import create_http_client
from syncbridge.models import RunStream
from syncbridge.sync import create_run, run_sync
from tests.sync_resume_child import KEY_ENV
from tests.sync_support import (
    HostRouter,
    Sessionmaker,
    bynder_portal,
    connect_bynder,
    context,
    items,
    run_streams,
    store_dump,
)

pytest_plugins = ["tests.store_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
ASSETS = 150
#: Each simulated vendor call takes this long, so kills land while pages are being read.
LATENCY_S = 0.03
KILLS = 10


async def _pages(sessionmaker: Sessionmaker, run_id: uuid.UUID) -> int:
    async with sessionmaker() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(RunStream.pages), 0)).where(RunStream.run_id == run_id)
        )
    return int(total or 0)


def _child(db_url: str, run_id: uuid.UUID, key: bytes) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.sync_resume_child",
            db_url,
            str(run_id),
            str(ASSETS),
            str(LATENCY_S),
        ],
        cwd=ROOT,
        env={**os.environ, KEY_ENV: key.decode()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def _kill_at_a_page(
    sessionmaker: Sessionmaker, proc: subprocess.Popen[bytes], run_id: uuid.UUID, rng: random.Random
) -> bool:
    """SIGKILL ``proc`` a little after the run commits one or two more pages; False when it
    finished first."""
    target = await _pages(sessionmaker, run_id) + rng.randint(1, 2)
    while proc.poll() is None:
        if await _pages(sessionmaker, run_id) >= target:
            # Somewhere inside the next page: reading it, encoding it or committing it.
            await asyncio.sleep(rng.uniform(0, 2 * LATENCY_S))
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            return True
        await asyncio.sleep(0.003)
    return False


async def test_a_sync_killed_at_random_pages_and_resumed_equals_an_uninterrupted_one(
    sessionmaker: Sessionmaker, db_url: str
) -> None:
    key = Fernet.generate_key()
    ctx = context(key=key)
    sim, host = bynder_portal(assets=ASSETS)
    killed_id = await connect_bynder(sessionmaker, ctx, sim, host)
    whole_id = await connect_bynder(sessionmaker, ctx, sim, host)
    async with create_http_client(transport=HostRouter({host: sim})) as http:
        whole = await run_sync(
            sessionmaker, ctx, http, connection_id=whole_id, full=True, requested_by="t"
        )
        assert whole.status == "succeeded", whole.error
        run_id = await create_run(
            sessionmaker,
            ctx,
            http,
            connection_id=killed_id,
            full=True,
            streams=None,
            requested_by="t",
        )
    rng = random.Random(11)
    kills = 0
    for _ in range(KILLS):
        proc = _child(db_url, run_id, key)
        if not await _kill_at_a_page(sessionmaker, proc, run_id, rng):
            _out, err = proc.communicate()
            assert proc.returncode == 0, err.decode()
            break
        kills += 1
    proc = _child(db_url, run_id, key)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert kills >= 5, f"only {kills} kills landed before the run finished"

    assert await store_dump(sessionmaker, killed_id) == await store_dump(sessionmaker, whole_id)
    stored = await items(sessionmaker, killed_id)
    assert len([i for i in stored if i[0] == "media"]) == ASSETS
    # Each resume went on from the last committed page (no item read twice, none skipped):
    # the killed run reads the items the uninterrupted one does, each inserted once. (A
    # resumed cursor may end on one more, empty, page: page counts are not compared.)
    uninterrupted = await run_streams(sessionmaker, whole.id)
    for name, rs in (await run_streams(sessionmaker, run_id)).items():
        assert rs.status == "succeeded"
        assert rs.read == uninterrupted[name].read, name
        assert rs.inserted == len([i for i in stored if i[0] == name]), name
        assert (rs.updated, rs.unchanged, rs.deleted) == (0, 0, 0), name
