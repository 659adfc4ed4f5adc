"""Shared fixtures: a real, migrated database per test on SQLite or PostgreSQL.

Choose the backend with ``SYNCBRIDGE_TEST_DB``:

* ``sqlite`` (default): each test gets a copy of a migrated SQLite file.
* a PostgreSQL URL such as ``postgresql://postgres@127.0.0.1:5432/postgres``: the session
  creates a throwaway database beside it, migrates it, truncates every table after each
  test, and drops it at the end.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.app import create_app
from syncbridge.auth.service import Role, create_key
from syncbridge.db import create_engine, migrate, open_store
from syncbridge.models import Base
from syncbridge.settings import Settings
from syncbridge.store import revisions
from syncbridge.store.unit_of_work import unit_of_work
from tests.plugins_connections import HOSTS, HostTable, vendor_app

TEST_DB = os.environ.get("SYNCBRIDGE_TEST_DB", "sqlite")
BACKEND = "sqlite" if TEST_DB == "sqlite" else "postgresql"


def _pg_url(admin_url: str, database: str) -> str:
    url = make_url(admin_url).set(drivername="postgresql+asyncpg", database=database)
    return url.render_as_string(hide_password=False)


async def _pg_admin(admin_url: str, sql: str) -> None:
    engine = create_engine(
        _pg_url(admin_url, make_url(admin_url).database or "postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated to head once per session: a SQLite file path or a PostgreSQL URL."""
    if BACKEND == "sqlite":
        path = tmp_path_factory.mktemp("template") / "template.db"
        migrate(f"sqlite+aiosqlite:///{path}")
        yield str(path)
        return
    name = f"sbtest_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_admin(TEST_DB, f'CREATE DATABASE "{name}"'))
    url = _pg_url(TEST_DB, name)
    try:
        migrate(url)
        yield url
    finally:
        asyncio.run(_pg_admin(TEST_DB, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _truncate_all(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            # Back to what the migrations leave: the store counters seeded at 1.
            await conn.execute(
                text("INSERT INTO store_revisions (name, revision) VALUES (:name, 1)"),
                [{"name": name} for name in revisions.NAMES],
            )
    finally:
        await engine.dispose()


@pytest.fixture
async def db_url(migrated_database: str, tmp_path: Path) -> AsyncIterator[str]:
    """An isolated, migrated database for one test."""
    if BACKEND == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(migrated_database, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    yield migrated_database
    await _truncate_all(migrated_database)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "embedded_worker(on): whether the app runs its in-process job worker (True/False); "
        "unmarked, as `serve` decides (on for SQLite, off for PostgreSQL)",
    )


@pytest.fixture
def settings(db_url: str, request: pytest.FixtureRequest) -> Settings:
    # The test process builds an app per test: freezing the GC heap each time is for servers.
    # The ticker stays off: a wall-clock slot falling inside a test would queue work it did
    # not ask for (the schedule tests build their own tickers on virtual time).
    marker = request.node.get_closest_marker("embedded_worker")
    return Settings(
        database_url=db_url,
        environment="development",
        log_json=False,
        freeze_gc_at_start=False,
        scheduler_enabled=False,
        run_worker_in_process=None if marker is None else bool(marker.args[0]),
    )


@pytest.fixture
def vendor_hosts() -> HostTable:
    """What the app's SSRF guard resolves host names with: a fixed table."""
    return HostTable(HOSTS)


@pytest.fixture
def vendor_transport() -> httpx.AsyncBaseTransport:
    """Where the app's vendor calls go: the in-process echo vendor. Modules that talk to
    other simulators override this; the app always puts its SSRF guard in front."""
    return httpx.ASGITransport(app=vendor_app())


@pytest.fixture
async def app(
    settings: Settings, vendor_transport: httpx.AsyncBaseTransport, vendor_hosts: HostTable
) -> AsyncIterator[FastAPI]:
    application = create_app(settings, transport=vendor_transport, resolver=vendor_hosts)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def session(app: FastAPI) -> AsyncIterator[AsyncSession]:
    """A session on the test database, for arranging and checking state directly.

    Each statement stands alone (on SQLite no snapshot is held between statements, as on
    PostgreSQL's read committed), so reads see what the API committed in between.
    """
    async with app.state.sessionmaker(execution_options={"sqlite_begin": "AUTOCOMMIT"}) as s:
        yield s


@pytest.fixture
async def api_keys(db_url: str) -> dict[Role, str]:
    """One raw key per role."""
    keys: dict[Role, str] = {}
    async with open_store(db_url) as sessionmaker, unit_of_work(sessionmaker) as s:
        for role in Role:
            _row, raw = await create_key(s, name=f"test-{role.value}", role=role, actor="test")
            keys[role] = raw
    return keys


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def admin(api_keys: dict[Role, str]) -> dict[str, str]:
    return bearer(api_keys[Role.admin])


@pytest.fixture
def editor(api_keys: dict[Role, str]) -> dict[str, str]:
    return bearer(api_keys[Role.editor])


@pytest.fixture
def viewer(api_keys: dict[Role, str]) -> dict[str, str]:
    return bearer(api_keys[Role.viewer])


def without_nulls(value: Any) -> Any:
    """What the OpenAPI document keeps of an example (FastAPI drops null members)."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value
