"""Sending write-backs: one connection's sender claims its ready outbox rows, re-reads the
assets where the vendor allows (``fetch``, no transaction open), computes the owned-tag
difference, sends one ``write`` for the changed ones (the connector batches where its vendor
does; each change carries the record it was computed from, so a connector that merges with
the current state does not read it again), and records every attempt in the ledger.

A reconciliation's write-backs skip the re-read on their first attempt when the store's copy
of the asset was written from a vendor read less than ``reread_after_s`` ago (and after the
last write syncbridge confirmed): the reconciliation has just read every asset and fed what
differed through the inbox, so reading each again would double its calls (QUALITY B3). The
price is the window between that read and the write: a person's tag edit made in it can be
lost where the vendor replaces the whole tag set (Bynder). A retry always re-reads.

Each batch is three steps: claim (a fenced unit of work), vendor calls (none open), record
(a fenced unit of work that also checks each row's lease token). What an attempt ends in:

* the DAM already holds the desired owned state: ``unchanged``, done, nothing sent (this is
  also how an ambiguous timeout resolves: the retry re-reads, finds the tags applied, and
  sends nothing, so nothing is applied twice);
* ``dry_run`` on the connection: recorded with what would be sent, done, nothing sent;
* applied, accepted or skipped by the connector: done, and confirmed;
* failed with a transient error (the connector's type decides, not the HTTP status):
  pending again after a full-jitter backoff (at least the vendor's ``Retry-After``), dead
  after ``writeback_max_attempts``;
* refused (permission, unknown option, deleted asset): dead at once with the vendor's
  message; the batch's other rows go on. A batch whose write the vendor refuses with
  401/403 is sent again asset by asset: refused for some assets, those are dead (no
  permission); refused for all, the credentials are, and every row is retried.

One sender per connection runs at a time (the job's concurrency key), so all workers share
one limiter per connection. Its connector is kept per process and connection revision, so a
sender that follows another in the same process inherits the limiter's window; one that
follows a sender of another process seeds its limiter with that sender's recent calls
(:mod:`syncbridge.writeback.budget`).
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.connections.service import ConnectionContext
from syncbridge.connector.errors import (
    AuthError,
    ConnectorError,
    RateLimited,
    TransientConnectorError,
)
from syncbridge.connector.http import full_jitter
from syncbridge.connector.ratelimit import AdaptiveRateLimiter
from syncbridge.connector.spec import Connector
from syncbridge.connector.types import Ref, TagChange, WriteOutcome
from syncbridge.logs import get_logger
from syncbridge.models import Connection, WriteBackAttempt, WriteBackStatus, utcnow
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.sync.service import build_connector
from syncbridge.writeback import budget, repository
from syncbridge.writeback.budget import CallLog
from syncbridge.writeback.landing import (
    OwnedDiff,
    OwnedState,
    current_metadata,
    current_tags,
    diff,
)
from syncbridge.writeback.repository import Claimed

log = get_logger(__name__)

T = TypeVar("T")


class Fenced(Protocol):
    """``JobContext.fenced``: run a unit of work that commits only while the lease holds."""

    def __call__(self, work: Callable[[AsyncSession], Awaitable[T]], /) -> Awaitable[T]: ...


DONE_STATUSES = frozenset({"applied", "accepted", "skipped", "unchanged"})


@dataclass(frozen=True)
class SendPolicy:
    """How a sender batches, retries and leases (from the settings)."""

    max_attempts: int = 5
    retry_base_s: float = 30.0
    retry_max_s: float = 3600.0
    batch: int = 1000
    lease_s: float = 300.0
    #: How recent the store's copy of an asset must be for a reconciliation's write-back
    #: to be sent from it on its first attempt, without re-reading the asset (0: never).
    reread_after_s: float = 300.0

    def reuse_since(self, now: datetime) -> datetime | None:
        """The oldest store copy a first attempt may be sent from (None: always re-read)."""
        if self.reread_after_s <= 0:
            return None
        return now - timedelta(seconds=self.reread_after_s)

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        wait = full_jitter(attempt, self.retry_base_s, self.retry_max_s)
        return max(wait, retry_after or 0.0)


@dataclass(frozen=True)
class Attempt:
    """What one attempt of one write-back came to."""

    vendor_status: str
    diff: OwnedDiff | None = None
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None
    dry_run: bool = False
    #: The vendor refused the credentials (or the permission, for this asset).
    auth: bool = False


@dataclass
class SendReport:
    """What a sender did: attempts by vendor status, and vendor write calls made."""

    attempts: dict[str, int] = field(default_factory=dict)
    writes: int = 0

    def count(self, status: str) -> None:
        self.attempts[status] = self.attempts.get(status, 0) + 1


# --- one connector per connection and process ------------------------------------------------


@dataclass
class Sender:
    """A connection's connector, the calls it made and its rate limiters."""

    revision: int
    connector: Connector
    log: CallLog
    limiters: list[AdaptiveRateLimiter]


_senders: weakref.WeakKeyDictionary[httpx.AsyncClient, dict[uuid.UUID, Sender]] = (
    weakref.WeakKeyDictionary()
)


async def sender_for(
    ctx: ConnectionContext,
    connection: Connection,
    http: httpx.AsyncClient,
    previous: tuple[list[float], float | None] | None,
) -> Sender:
    """The connection's connector on ``http``, kept while the connection's revision stands
    and no sender elsewhere made calls since (its limiter then knows every recent call). A
    new one is seeded with the calls of the sender before it (``previous``, from the store)
    and of the one it replaces here."""
    kept = _senders.setdefault(http, {})
    found = kept.get(connection.id)
    if found is not None and found.revision == connection.revision and previous is None:
        return found
    earlier: list[float] = list(previous[0]) if previous else []
    if found is not None:
        earlier += list(found.log.calls)
        await found.connector.aclose()
    log = CallLog()
    connector = build_connector(ctx, connection, budget.timed_client(http, log))
    limiters = budget.limiters_of(connector)
    if limiters:
        log.wall_clock = limiters[0].wall_clock
    budget.seed(limiters, earlier, previous[1] if previous else None)
    log.calls.extend(sorted(earlier))
    sender = Sender(connection.revision, connector, log, limiters)
    kept[connection.id] = sender
    return sender


# --- one batch -------------------------------------------------------------------------------


def _failure(exc: Exception, transient: tuple[type[Exception], ...]) -> Attempt:
    """A failed attempt; retried when the error's type says it may pass (the connector's
    transient errors, and refused credentials, which an admin may fix), else a refusal."""
    retryable = isinstance(exc, (TransientConnectorError, AuthError, *transient))
    retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
    return Attempt(
        "failed",
        error=str(exc),
        retryable=retryable,
        retry_after=retry_after,
        auth=isinstance(exc, AuthError),
    )


async def _read_current(
    connector: Connector, claimed: Sequence[Claimed], transient: tuple[type[Exception], ...]
) -> dict[str, Mapping[str, Any]] | Attempt:
    """What the vendor holds of the claimed assets: the store's copy where the claim gave
    one (a reconciliation just read it), the others re-read (``fetch``)."""
    current: dict[str, Mapping[str, Any]] = {
        c.external_id: c.stored for c in claimed if c.stored is not None
    }
    refs = [Ref(c.stream, c.external_id) for c in claimed if c.stored is None]
    if not refs:
        return current
    try:
        records = await connector.fetch(refs)
    except Exception as exc:
        if not isinstance(exc, (ConnectorError, *transient)):
            raise
        return _failure(exc, transient)
    return current | {r.external_id: r.data for r in records}


def _planned(
    claimed: Sequence[Claimed], current: Mapping[str, Mapping[str, Any]], prefix: str
) -> dict[uuid.UUID, OwnedDiff]:
    """The owned difference of each row; for an asset the vendor did not return, every
    desired tag (the write says what became of it)."""
    out: dict[uuid.UUID, OwnedDiff] = {}
    for c in claimed:
        want = OwnedState(frozenset(c.row.desired_tags), dict(c.row.desired_metadata))
        data = current.get(c.external_id)
        if data is None:
            out[c.row.id] = OwnedDiff(want.tags, frozenset(), dict(want.metadata))
            continue
        keys = list(want.metadata)
        out[c.row.id] = diff(want, current_tags(data), current_metadata(data, keys), prefix)
    return out


def _change(c: Claimed, d: OwnedDiff, current: Mapping[str, Any] | None) -> TagChange:
    """The change to send, with the record its difference was computed from (a connector
    that merges with the current state uses it rather than reading the asset again)."""
    return TagChange(
        stream=c.stream,
        external_id=c.external_id,
        desired=frozenset(c.row.desired_tags),
        add=d.add,
        remove=d.remove,
        metadata=dict(c.row.desired_metadata),
        current=current,
    )


async def send_batch(
    connector: Connector,
    claimed: Sequence[Claimed],
    *,
    prefix: str,
    dry_run: bool,
    transient: tuple[type[Exception], ...] = (),
) -> tuple[dict[uuid.UUID, Attempt], int]:
    """The attempt of each claimed row, and the connector writes made (0 or 1, more when a
    refusal of the credentials is narrowed down asset by asset; the connector makes one
    vendor call per changed asset, or per batch where the vendor batches)."""
    current = await _read_current(connector, claimed, transient)
    if isinstance(current, Attempt):
        return {c.row.id: current for c in claimed}, 0
    diffs = _planned(claimed, current, prefix)
    results: dict[uuid.UUID, Attempt] = {}
    to_send: list[Claimed] = []
    for c in claimed:
        d = diffs[c.row.id]
        if d.empty:
            results[c.row.id] = Attempt("unchanged", d)
        elif dry_run:
            results[c.row.id] = Attempt("dry_run", d, dry_run=True)
        else:
            to_send.append(c)
    if not to_send:
        return results, 0
    changes = {c.row.id: _change(c, diffs[c.row.id], current.get(c.external_id)) for c in to_send}
    sent, writes = await _write(connector, to_send, changes, diffs, transient)
    return results | sent, writes


async def _write(
    connector: Connector,
    to_send: Sequence[Claimed],
    changes: Mapping[uuid.UUID, TagChange],
    diffs: Mapping[uuid.UUID, OwnedDiff],
    transient: tuple[type[Exception], ...],
) -> tuple[dict[uuid.UUID, Attempt], int]:
    """One connector write for ``to_send``. A connector refusing the credentials for the
    batch is asked again asset by asset: the assets it still refuses, while it takes others,
    are refused permission (dead at once); refused for every asset, the credentials are
    (retried: an admin may fix them)."""
    try:
        outcomes = await connector.write([changes[c.row.id] for c in to_send])
    except AuthError as exc:
        if len(to_send) == 1:
            return {to_send[0].row.id: _refused(exc, diffs[to_send[0].row.id], True)}, 1
        alone = [await _write(connector, [c], changes, diffs, transient) for c in to_send]
        results = {k: v for one, _ in alone for k, v in one.items()}
        if any(r.vendor_status != "failed" or not r.auth for r in results.values()):
            results = {k: replace(v, retryable=False) if v.auth else v for k, v in results.items()}
        return results, 1 + sum(w for _, w in alone)
    except Exception as exc:
        if not isinstance(exc, (ConnectorError, *transient)):
            raise
        failed = _failure(exc, transient)
        return {c.row.id: replace(failed, diff=diffs[c.row.id]) for c in to_send}, 1
    results = {}
    for c, outcome in zip(to_send, _aligned(to_send, outcomes), strict=True):
        results[c.row.id] = Attempt(
            outcome.status,
            diffs[c.row.id],
            error=outcome.detail if outcome.status == "failed" else None,
            retryable=outcome.retryable,
        )
    return results, 1


def _refused(exc: AuthError, d: OwnedDiff, retryable: bool) -> Attempt:
    return Attempt("failed", d, error=str(exc), retryable=retryable, auth=True)


def _aligned(sent: Sequence[Claimed], outcomes: Sequence[WriteOutcome]) -> list[WriteOutcome]:
    """One outcome per change, in order (a connector that answered fewer is a failure)."""
    if len(outcomes) == len(sent):
        return list(outcomes)
    detail = f"the connector answered {len(outcomes)} outcomes for {len(sent)} changes"
    return [WriteOutcome(c.external_id, "failed", detail, retryable=True) for c in sent]


# --- recording -------------------------------------------------------------------------------


async def record(
    session: AsyncSession,
    claimed: Sequence[Claimed],
    results: Mapping[uuid.UUID, Attempt],
    token: uuid.UUID,
    policy: SendPolicy,
) -> None:
    """Write each attempt to the ledger and move each row on; rows whose lease was taken
    over (another sender reclaimed them) are left to their new holder."""
    now = utcnow()
    rows = await repository.held(session, [c.row.id for c in claimed], token)
    for c in claimed:
        row = rows.get(c.row.id)
        if row is None:
            continue
        result = results[row.id]
        d = result.diff
        session.add(
            WriteBackAttempt(
                writeback_id=row.id,
                asset_id=row.asset_id,
                connection_id=row.connection_id,
                attempt=row.attempts,
                at=now,
                added=sorted(d.add) if d else [],
                removed=sorted(d.remove) if d else [],
                metadata_set=dict(sorted(d.metadata.items())) if d else {},
                vendor_status=result.vendor_status,
                error=result.error,
                dry_run=result.dry_run,
            )
        )
        row.vendor_status, row.last_error = result.vendor_status, result.error
        row.lease_owner = row.lease_token = row.lease_expires_at = None
        row.updated_at = now
        state = await repository.state_of(session, row.asset_id, row.connection_id)
        if result.vendor_status in DONE_STATUSES:
            row.status, row.finished_at = WriteBackStatus.done.value, now
            confirmed = OwnedState(frozenset(row.desired_tags), dict(row.desired_metadata))
            state.confirmed_tags = confirmed.tag_list()
            state.confirmed_metadata = {
                k: v for k, v in confirmed.metadata_dict().items() if v is not None
            }
            state.confirmed_key = confirmed.key()
            state.confirmed_at = now
        elif result.dry_run:
            row.status, row.finished_at, row.dry_run = WriteBackStatus.done.value, now, True
            if state.planned_version == row.version:
                state.planned_dry_run = True
        elif result.retryable and row.attempts < policy.max_attempts:
            row.status = WriteBackStatus.pending.value
            wait = policy.backoff(row.attempts, result.retry_after)
            row.run_after = now + timedelta(seconds=wait)
        else:
            row.status, row.finished_at = WriteBackStatus.dead.value, now
    await session.flush()


# --- one connection's sender -----------------------------------------------------------------


async def send_writebacks(
    sessionmaker: async_sessionmaker[AsyncSession],
    ctx: ConnectionContext,
    http: httpx.AsyncClient,
    connection_id: uuid.UUID,
    *,
    fenced: Fenced,
    check: Callable[[], None],
    owner: str,
    policy: SendPolicy,
) -> SendReport:
    """Send the connection's ready write-backs, batch by batch, until none is ready; then
    queue the sender again for the next retry that is due later (if any)."""
    report = SendReport()
    kept = _senders.get(http, {}).get(connection_id)
    calls = kept.log if kept is not None else CallLog()

    async def read(
        session: AsyncSession,
    ) -> tuple[Connection | None, tuple[list[float], float | None] | None]:
        connection = await session.get(Connection, connection_id)
        return connection, await budget.handed_over(session, connection_id, calls)

    connection, previous = await in_unit_of_work(sessionmaker, read, write=False)
    if connection is None or not connection.enabled:
        # A deleted connection took its rows with it; a disabled one keeps them pending.
        return report
    sender = await sender_for(ctx, connection, http, previous)
    connector = sender.connector
    transient = ctx.registry.get(connection.connector_key).transient_errors
    prefix = _tag_prefix(connection)
    dry_run = repository.is_dry_run(connection)
    while True:
        check()
        token = uuid.uuid4()
        now = utcnow()

        async def take(
            session: AsyncSession, token: uuid.UUID = token, now: datetime = now
        ) -> list[Claimed]:
            return await repository.claim(
                session,
                connection_id,
                now=now,
                limit=policy.batch,
                owner=owner,
                token=token,
                until=now + timedelta(seconds=policy.lease_s),
                reuse_since=policy.reuse_since(now),
            )

        claimed: list[Claimed] = await fenced(take)
        if not claimed:
            break
        results, writes = await send_batch(
            connector, claimed, prefix=prefix, dry_run=dry_run, transient=transient
        )
        report.writes += writes
        for result in results.values():
            report.count(result.vendor_status)

        async def finish(
            session: AsyncSession,
            claimed: list[Claimed] = claimed,
            results: dict[uuid.UUID, Attempt] = results,
            token: uuid.UUID = token,
        ) -> None:
            await record(session, claimed, results, token, policy)
            await budget.hand_over(session, connection_id, sender.log, sender.limiters)

        await fenced(finish)
        log.info(
            "writeback.batch_sent",
            connection_id=str(connection_id),
            rows=len(claimed),
            writes=writes,
            dry_run=dry_run,
        )
    await fenced(lambda session: _queue_next(session, connection_id))
    return report


def _tag_prefix(connection: Connection) -> str:
    """The owned tag namespace of the connection (its connector's ``tag_prefix`` setting)."""
    return str((connection.settings or {}).get("tag_prefix") or "perf:")


async def _queue_next(session: AsyncSession, connection_id: uuid.UUID) -> None:
    from syncbridge.writeback.service import queue_send

    due: datetime | None = await repository.next_due(session, connection_id)
    if due is not None:
        await queue_send(session, connection_id, tag=f"retry:{due.isoformat()}", run_after=due)


__all__ = [
    "Attempt",
    "SendPolicy",
    "SendReport",
    "Sender",
    "send_batch",
    "send_writebacks",
    "sender_for",
]
