"""Knowing the store revisions without a database round trip on every request.

The cached read models (the concept list, the compiled catalog, authenticated keys) are
valid for one revision of the store's counters (:mod:`syncbridge.store.revisions`). Asking
the store for the counters on every request costs a transaction; a watch knows them:

* **SQLite**: a connection of the watch's own reads ``PRAGMA data_version``, which changes
  whenever any other connection (of this process or another, such as the CLI) commits; only
  then are the counters read again. Both are reads of an open file in WAL mode: microseconds,
  and exact.
* **PostgreSQL**: every write that bumps a counter also sends ``NOTIFY`` (delivered when it
  commits); the watch ``LISTEN``\\s on a connection of its own. Until it listens, and whenever
  that connection is lost, it knows nothing and callers read the counters from the store.
  A process also learns its own commits at once (:meth:`RevisionWatch.saw`), so it always
  reads what it wrote; another replica's commit is seen when its notification arrives.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from syncbridge.store.listener import PostgresListener

__all__ = ["CHANNEL", "RevisionWatch"]

#: The PostgreSQL notification channel of revision bumps; the payload is ``name:revision``.
CHANNEL = "syncbridge_revisions"

_READ = "SELECT name, revision FROM store_revisions"


class RevisionWatch:
    """The store counters as last seen, or None while they cannot be vouched for."""

    def __init__(self) -> None:
        self._counters: dict[str, int] | None = None

    async def start(self) -> None:
        """Begin watching (a no-op for a watch that knows nothing)."""

    async def stop(self) -> None:
        """Stop watching and forget."""
        self._counters = None

    def known(self) -> dict[str, int] | None:
        """The current counters, or None when the caller must read them from the store."""
        return None if self._counters is None else dict(self._counters)

    def saw(self, name: str, revision: int) -> None:
        """A commit of this process moved ``name`` to ``revision``."""
        if self._counters is not None and revision > self._counters.get(name, 0):
            self._counters[name] = revision

    @staticmethod
    def for_engine(engine: AsyncEngine) -> RevisionWatch:
        """The watch that suits ``engine``'s database."""
        if engine.dialect.name == "sqlite":
            return SQLiteRevisionWatch(engine)
        if engine.dialect.name == "postgresql":
            return PostgresRevisionWatch(engine)
        return RevisionWatch()


class SQLiteRevisionWatch(RevisionWatch):
    """Counters re-read whenever ``PRAGMA data_version`` says another connection committed."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__()
        self._path = make_url(str(engine.url)).database or ""
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None

    async def start(self) -> None:
        if not self._path or self._path == ":memory:":
            return
        # Autocommit, so every statement sees the latest commit; a short busy timeout: a
        # reader in WAL mode does not wait for writers.
        self._conn = sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False, timeout=1.0
        )

    async def stop(self) -> None:
        await super().stop()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def known(self) -> dict[str, int] | None:
        if self._conn is None:
            return None
        try:
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version or self._counters is None:
                rows = self._conn.execute(_READ).fetchall()
                self._counters = {str(name): int(rev) for name, rev in rows}
                self._version = version
        except sqlite3.Error:
            self._counters = None
            return None
        return dict(self._counters)


class PostgresRevisionWatch(RevisionWatch):
    """Counters kept current by ``LISTEN``; unknown while not listening."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__()
        self._listener = PostgresListener(
            engine,
            CHANNEL,
            on_notify=self._on_notify,
            on_listening=self._read,
            on_silent=self._forget,
            event="store.revision_watch",
        )

    async def start(self) -> None:
        self._listener.start("revision-watch")

    async def stop(self) -> None:
        await self._listener.stop()

    def _on_notify(self, payload: str) -> None:
        name, _, revision = payload.rpartition(":")
        if name and revision.isdigit():
            self.saw(name, int(revision))

    async def _read(self, driver: Any) -> None:
        # Called once listening: no bump can fall between listening and this read.
        rows = await driver.fetch(_READ)
        self._counters = {str(r["name"]): int(r["revision"]) for r in rows}

    def _forget(self) -> None:
        self._counters = None
