"""Engine and session factories, and the migration runner. Nothing connects at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> str:
    """Give plain ``sqlite://`` and ``postgresql://`` URLs their async driver."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # The driver's own transaction handling starts a transaction only before the first write,
    # so reads ran outside it; we emit BEGIN ourselves (see _sqlite_begin).
    dbapi_conn.isolation_level = None
    # WAL lets readers run beside the one writer; foreign keys are off by default in SQLite.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # A write unit of work asks for BEGIN IMMEDIATE: it takes the write lock before its first
    # read, so two writers can never both read a row and then both write it.
    # AUTOCOMMIT (no BEGIN: every statement stands alone) is for inspection sessions only.
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    if mode == "AUTOCOMMIT":
        return
    if mode not in ("DEFERRED", "IMMEDIATE"):
        raise ValueError(f"unknown SQLite begin mode {mode!r}")
    conn.exec_driver_sql(f"BEGIN {mode}")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url`` with the per-backend settings syncbridge relies on."""
    url = normalise_url(url)
    is_sqlite = url.startswith("sqlite")
    # Statement parameters can hold secrets (encrypted or not): keep them out of errors/logs.
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite:
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    else:
        # No ping on every checkout (a round trip per request): a connection the server
        # dropped fails its first statement, is invalidated, and the unit of work retries
        # on a fresh one (``store.unit_of_work.is_retryable``). Old connections are recycled.
        kwargs.setdefault("pool_recycle", 1800)
    engine = create_async_engine(url, **kwargs)
    if is_sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def create_sessionmaker(
    engine: AsyncEngine, *, info: dict[str, Any] | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit; each starts with ``info``."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False, info=info)


@asynccontextmanager
async def open_store(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The sessionmaker of one command's store (CLI, bootstrap); the engine is disposed at
    the end. Transactions on it are opened with ``store.unit_of_work``."""
    engine = create_engine(url)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


def alembic_config(url: str) -> Any:
    """An Alembic config pointing at the bundled migrations and ``url``."""
    from alembic.config import Config

    root = Path(__file__).resolve().parent
    # Installed: migrations ship inside the package; in a checkout they sit at the top level.
    candidates = [root / "_migrations", root.parent.parent / "migrations"]
    script_location = next(p for p in candidates if (p / "env.py").exists())
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision``. Must run outside an event loop."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Downgrade the database at ``url`` to ``revision``."""
    from alembic import command

    command.downgrade(alembic_config(url), revision)
