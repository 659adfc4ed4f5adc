"""``/readyz``: ready when the store answers, its migrations are the code's head and a worker
beat recently; otherwise 503 problem+json naming the failing check. The app's in-process
worker is off, so each test says which worker beat and when."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from syncbridge.api.health import migration_heads
from syncbridge.db import create_engine
from syncbridge.models.base import utcnow
from syncbridge.schedule.repository import beat
from tests.conftest import BACKEND

pytestmark = pytest.mark.embedded_worker(False)

#: Where no database answers (a server address on both backends: a SQLite file that cannot
#: be opened leaves aiosqlite's connection thread answering after the test's loop closed).
DEAD_STORE = "postgresql+asyncpg://postgres@127.0.0.1:1/none"


async def beaten(session: AsyncSession, ago: timedelta) -> None:
    """A worker whose last heartbeat was ``ago``."""
    await beat(session, "worker-a", utcnow() - ago)
    await session.commit()


def assert_not_ready(response: httpx.Response, check: str) -> dict[str, object]:
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["check"] == check
    checks = body["checks"]
    assert isinstance(checks, dict)
    assert checks[check] == "failed"
    assert set(checks.values()) <= {"ok", "failed"}
    return body


async def test_ready_when_the_store_is_current_and_a_worker_beat_recently(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await beaten(session, timedelta(seconds=5))
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "database": BACKEND,
        "checks": {"store": "ok", "migrations": "ok", "worker": "ok"},
    }


async def test_not_ready_without_any_worker_heartbeat(client: httpx.AsyncClient) -> None:
    body = assert_not_ready(await client.get("/readyz"), "worker")
    assert body["checks"] == {"store": "ok", "migrations": "ok", "worker": "failed"}
    assert "syncbridge worker" in str(body["detail"])


async def test_not_ready_when_the_last_heartbeat_is_stale(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    # Three beats of 15 s by default: a minute without one is too long.
    await beaten(session, timedelta(minutes=1))
    body = assert_not_ready(await client.get("/readyz"), "worker")
    assert "No worker heartbeat for more than 0:00:45" in str(body["detail"])


@pytest.fixture
async def older_migration(app: FastAPI) -> AsyncIterator[str]:
    """The store says it is one migration behind the code (put back afterwards: the
    version table outlives each test's truncation)."""
    [head] = migration_heads()
    engine: AsyncEngine = app.state.engine
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = 'f6b8d0e2a4c5'"))
    try:
        yield head
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})


async def test_not_ready_when_the_store_is_behind_the_code_migrations(
    client: httpx.AsyncClient, session: AsyncSession, older_migration: str
) -> None:
    await beaten(session, timedelta(seconds=0))
    body = assert_not_ready(await client.get("/readyz"), "migrations")
    assert body["checks"] == {"store": "ok", "migrations": "failed"}
    assert "f6b8d0e2a4c5" in str(body["detail"])
    assert older_migration in str(body["detail"])


async def test_not_ready_when_the_store_does_not_answer(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    live = app.state.engine
    app.state.engine = dead = create_engine(DEAD_STORE)
    try:
        body = assert_not_ready(await client.get("/readyz"), "store")
    finally:
        app.state.engine = live
        await dead.dispose()
    assert body["checks"] == {"store": "failed"}
    assert body["detail"] == "The database is not reachable."
