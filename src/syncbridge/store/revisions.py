"""Store revisions: counters of the data that cached read models are built from.

``catalog`` counts committed changes to the taxonomy and the mapping rules (rules point into
the taxonomy, so both are one catalog); ``api_keys`` counts key creations and revocations;
``connections`` counts changes to connections.
The compiled taxonomy view, the rule sets and the authenticated keys are cached per
revision, so every process (API replica or worker) sees a change as soon as it commits.

:func:`lock_for_write` is the first statement of every write to a catalog: it bumps the
counter, which on PostgreSQL takes that row's lock, so the writers of one catalog queue up
and each reads what the one before it committed (that keeps the invariants that span rows:
no cycle in broader links, unique labels, contiguous version numbers). On SQLite the write
transaction already holds the database's write lock (``BEGIN IMMEDIATE``). A write that
rolls back leaves the counter as it was.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.models import StoreRevision
from syncbridge.store.revision_watch import CHANNEL, RevisionWatch

CATALOG = "catalog"
API_KEYS = "api_keys"
#: Connections created, changed, re-keyed or deleted (the webhook receiver caches their
#: connector instances per revision).
CONNECTIONS = "connections"
NAMES = (CATALOG, API_KEYS, CONNECTIONS)


#: Where a transaction keeps the counters it read (see :func:`current`).
_SEEN = "syncbridge.store_revisions"
#: Where a transaction keeps the counters it moved (see :func:`bumped`).
_BUMPED = "syncbridge.bumped_revisions"
#: Where a session finds the process's :class:`RevisionWatch` (set by its sessionmaker).
WATCH = "syncbridge.revision_watch"


async def lock_for_write(session: AsyncSession, name: str) -> int:
    """Bump revision ``name`` and hold its lock until the transaction ends; the new revision.

    Call it before reading anything the write depends on.
    """
    session.info.pop(_SEEN, None)
    stmt = (
        update(StoreRevision)
        .where(StoreRevision.name == name)
        .values(revision=StoreRevision.revision + 1)
        .returning(StoreRevision.revision)
        .execution_options(synchronize_session=False)
    )
    # The migration seeds every counter: a missing row is a broken store, not a case.
    revision = (await session.execute(stmt)).scalar_one()
    if session.get_bind().dialect.name == "postgresql":
        # Delivered when (and only if) this transaction commits: the other processes'
        # watches learn the new revision without asking.
        await session.execute(select(func.pg_notify(CHANNEL, f"{name}:{int(revision)}")))
    session.info.setdefault(_BUMPED, {})[name] = int(revision)
    return int(revision)


async def current(session: AsyncSession, *, fresh: bool = False) -> dict[str, int]:
    """Every revision counter by name. The process's watch answers without a query when it
    can; else one small query, made once per transaction (the authentication and the read
    models of one request share it). ``fresh`` always asks the store."""
    if not fresh:
        seen: dict[str, int] | None = session.info.get(_SEEN)
        if seen is not None:
            return seen
        watch: RevisionWatch | None = session.info.get(WATCH)
        known = watch.known() if watch is not None else None
        if known is not None:
            session.info[_SEEN] = known  # authentication and read models ask once between them
            return known
    rows = await session.execute(select(StoreRevision.name, StoreRevision.revision))
    counters = {name: int(revision) for name, revision in rows.all()}
    session.info[_SEEN] = counters
    return counters


def forget(session: AsyncSession) -> None:
    """Drop the counters a finished transaction read and moved (the unit of work calls it)."""
    session.info.pop(_SEEN, None)
    session.info.pop(_BUMPED, None)


def committed(session: AsyncSession) -> None:
    """Tell the process's watch what the session's committed transaction moved."""
    watch: RevisionWatch | None = session.info.get(WATCH)
    moved: dict[str, int] = session.info.get(_BUMPED, {})
    if watch is not None:
        for name, revision in moved.items():
            watch.saw(name, revision)


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class PerRevision(Generic[K, V]):
    """Values built from the store and valid for one revision of counter ``name``: all are
    dropped when the revision moves, and a value built while another process committed is
    returned for that one call but not kept. At most ``max_entries`` (least recently used
    go first)."""

    def __init__(self, name: str, max_entries: int = 256) -> None:
        self.name = name
        self.max_entries = max_entries
        self._revision: int | None = None
        self._values: OrderedDict[K, V] = OrderedDict()

    async def get(self, session: AsyncSession, key: K, build: Callable[[], Awaitable[V]]) -> V:
        """The value of ``key`` at the current revision, built with ``build`` when missing."""
        revision = (await current(session)).get(self.name, 0)
        if revision != self._revision:
            self._revision, self._values = revision, OrderedDict()
        if key in self._values:
            self._values.move_to_end(key)
            return self._values[key]
        value = await build()
        still = (await current(session, fresh=True)).get(self.name, 0) == revision
        if still and self._revision == revision:
            self._values[key] = value
            while len(self._values) > self.max_entries:
                self._values.popitem(last=False)
        return value
