"""The store discipline: one owner per transaction, no transaction open during a vendor call,
write transactions that lock first on SQLite, bounded retries, and the SSRF guard wired into
the app's own client."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.app import create_app
from syncbridge.connections.ssrf import SSRFRefused
from syncbridge.db import create_engine
from syncbridge.models import StoreRevision
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import (
    ConnectionLost,
    in_unit_of_work,
    is_retryable,
    unit_of_work,
)
from tests.conftest import BACKEND
from tests.plugins_connections import HostTable, echo_installed, echo_settings, vendor_app


class PoolWatchingVendor(httpx.AsyncBaseTransport):
    """The echo vendor, noting how many database connections the app holds at each call."""

    def __init__(self) -> None:
        self.inner = httpx.ASGITransport(app=vendor_app())
        self.app: FastAPI | None = None
        self.checked_out: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert self.app is not None
        self.checked_out.append(self.app.state.engine.pool.checkedout())
        return await self.inner.handle_async_request(request)


@pytest.fixture
def watching() -> PoolWatchingVendor:
    return PoolWatchingVendor()


@pytest.fixture
def vendor_transport(watching: PoolWatchingVendor) -> httpx.AsyncBaseTransport:
    return watching


async def test_no_transaction_is_open_while_the_vendor_answers(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    watching: PoolWatchingVendor,
) -> None:
    watching.app = app
    async with echo_installed(app):
        body = {"connector": "echo", "name": "watched", "settings": echo_settings()}
        created = (await client.post("/v1/connections", json=body, headers=admin)).json()
        # Between requests only the revision watch's listener (PostgreSQL) holds one.
        idle = app.state.engine.pool.checkedout()
        response = await client.post(f"/v1/connections/{created['id']}/check", headers=admin)
    assert response.json()["status"] == "ok", response.text
    assert watching.checked_out, "the vendor was never called"
    # No more connections checked out than when idle: no transaction open in the app.
    assert watching.checked_out == [idle] * len(watching.checked_out)
    audit = await client.get("/v1/audit?action=connection.check", headers=admin)
    assert audit.json()["total"] == 1


async def test_the_apps_own_client_is_behind_the_ssrf_guard(settings: Settings) -> None:
    calls: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200)

    app = create_app(
        settings,
        transport=httpx.MockTransport(record),
        resolver=HostTable({"api.vendor.example": ["93.184.216.34"]}),
    )
    async with app.router.lifespan_context(app):
        with pytest.raises(SSRFRefused):
            await app.state.http.get("http://127.0.0.1/me")
        with pytest.raises(SSRFRefused):
            await app.state.http.get("http://169.254.169.254/latest/meta-data")
        assert (await app.state.http.get("http://api.vendor.example/me")).status_code == 200
    assert [str(r.url) for r in calls] == ["http://api.vendor.example/me"]


async def test_a_failed_unit_of_work_leaves_nothing(app: FastAPI, session: AsyncSession) -> None:
    before = await session.get(StoreRevision, "catalog")
    assert before is not None
    revision = before.revision

    async def fail() -> None:
        async with unit_of_work(app.state.sessionmaker) as s:
            await s.execute(text("UPDATE store_revisions SET revision = revision + 1"))
            raise RuntimeError("the handler failed")

    with pytest.raises(RuntimeError):
        await fail()
    session.expire_all()
    after = await session.get(StoreRevision, "catalog")
    assert after is not None
    assert after.revision == revision


def _busy() -> OperationalError:
    return OperationalError("UPDATE ...", {}, sqlite3.OperationalError("database is locked"))


async def test_a_retryable_failure_reruns_the_whole_unit(
    app: FastAPI, session: AsyncSession
) -> None:
    attempts: list[int] = []

    async def work(s: AsyncSession) -> int:
        attempts.append(1)
        await s.execute(text("UPDATE store_revisions SET revision = revision + 1"))
        if len(attempts) < 3:
            raise _busy()
        return len(attempts)

    before = await session.get(StoreRevision, "catalog")
    assert before is not None
    start = before.revision
    assert await in_unit_of_work(app.state.sessionmaker, work) == 3
    session.expire_all()
    after = await session.get(StoreRevision, "catalog")
    # The two failed attempts rolled back; only the third committed.
    assert after is not None
    assert after.revision == start + 1


async def test_errors_that_no_retry_can_cure_are_not_retried(app: FastAPI) -> None:
    attempts: list[int] = []

    async def work(_s: AsyncSession) -> None:
        attempts.append(1)
        raise ValueError("a bug, not contention")

    with pytest.raises(ValueError, match="a bug"):
        await in_unit_of_work(app.state.sessionmaker, work)
    assert attempts == [1]


def test_what_counts_as_retryable() -> None:
    class PgError(Exception):
        def __init__(self, sqlstate: str) -> None:
            super().__init__(sqlstate)
            self.sqlstate = sqlstate

    assert is_retryable(_busy())
    assert is_retryable(OperationalError("x", {}, PgError("40P01")))  # deadlock
    assert is_retryable(OperationalError("x", {}, PgError("40001")))  # serialization
    assert not is_retryable(OperationalError("x", {}, PgError("23505")))  # unique violation
    assert not is_retryable(ValueError("database is locked"))
    # The driver's own errors, for a statement run without SQLAlchemy (the inbox's writer).
    assert is_retryable(PgError("40P01"))
    assert is_retryable(ConnectionLost("ConnectionDoesNotExistError"))
    assert not is_retryable(PgError("23505"))
    assert not is_retryable(PgError("database is locked"))


@pytest.mark.skipif(BACKEND != "sqlite", reason="BEGIN IMMEDIATE is SQLite's write lock")
async def test_a_sqlite_write_unit_holds_the_write_lock_from_its_first_read(
    app: FastAPI, db_url: str
) -> None:
    path = Path(db_url.split("///", 1)[1])

    def another_writer_can_begin() -> bool:
        conn = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            conn.close()

    async with unit_of_work(app.state.sessionmaker, write=False) as reader:
        await reader.execute(text("SELECT revision FROM store_revisions"))
        assert another_writer_can_begin()
    async with unit_of_work(app.state.sessionmaker) as writer:
        await writer.execute(text("SELECT revision FROM store_revisions"))
        # A plain read was enough to take the lock: no second writer can start.
        assert not another_writer_can_begin()
    assert another_writer_can_begin()


@pytest.mark.skipif(BACKEND != "sqlite", reason="BEGIN IMMEDIATE is SQLite's write lock")
async def test_a_preview_is_a_read_and_never_waits_for_the_write_lock(
    client: httpx.AsyncClient, viewer: dict[str, str], db_url: str
) -> None:
    body = {"connector_key": "hubspot", "record": {"utm_source": "linkedin"}}
    assert (await client.post("/v1/mappings/preview", json=body, headers=viewer)).is_success
    holder = sqlite3.connect(Path(db_url.split("///", 1)[1]), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
        response = await asyncio.wait_for(
            client.post("/v1/mappings/preview", json=body, headers=viewer), timeout=10
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert response.status_code == 200, response.text


async def test_a_lost_connection_is_retried_on_a_fresh_one(app: FastAPI) -> None:
    # The pool does not ping on checkout; a connection the server dropped fails once and
    # the unit of work runs again on a new one.
    lost = OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))
    lost.connection_invalidated = True
    attempts: list[int] = []

    async def work(s: AsyncSession) -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise lost
        return int((await s.execute(text("SELECT 1"))).scalar_one())

    assert await in_unit_of_work(app.state.sessionmaker, work, write=False) == 1
    assert len(attempts) == 2


@pytest.mark.skipif(BACKEND != "postgresql", reason="terminates PostgreSQL backends")
async def test_requests_survive_the_server_dropping_pooled_connections(
    app: FastAPI, client: httpx.AsyncClient, viewer: dict[str, str], db_url: str
) -> None:
    for _ in range(3):
        assert (await client.get("/v1/taxonomy/schemes", headers=viewer)).is_success
    assert app.state.engine.pool.checkedin() >= 1
    outsider = create_engine(db_url)
    try:
        async with outsider.connect() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    finally:
        await outsider.dispose()
    # The pooled connections are dead; each request still answers.
    for _ in range(3):
        response = await client.get("/v1/taxonomy/schemes", headers=viewer)
        assert response.status_code == 200, response.text
