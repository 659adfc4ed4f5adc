"""Planning write-backs: compare each asset's desired owned tags (per DAM connection, per
its rules' landing) with what syncbridge last confirmed there, and put one outbox row per
difference. Runs in the caller's transaction (a scoring run's last one), flushes, never
commits; queues one ``writeback.send`` job per connection that got rows.

Planning compares with the confirmed state, never with what a sync read from the DAM: a
later read of an asset carrying what syncbridge wrote plans nothing (no echo loop), and a
person removing an owned tag by hand is left to reconciliation. It is state-based, so a
planning pass after a crash plans exactly what is still missing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.jobs.service import enqueue
from syncbridge.logs import get_logger
from syncbridge.models import WriteBack, WriteBackState, WriteBackStatus, utcnow
from syncbridge.writeback import repository
from syncbridge.writeback.landing import OwnedState, landing, owned_state, same_value

log = get_logger(__name__)

SEND_JOB = "writeback.send"


def concurrency_key(connection_id: uuid.UUID) -> str:
    """One sender per connection at a time, across every worker: the connection's vendor
    budget is used by one limiter."""
    return f"writeback:{connection_id}"


async def queue_send(
    session: AsyncSession, connection_id: uuid.UUID, *, tag: str, run_after: datetime | None = None
) -> None:
    """Queue the connection's ``writeback.send`` job (deduplicated by ``tag``; flushes)."""
    await enqueue(
        session,
        SEND_JOB,
        {"connection_id": str(connection_id)},
        dedupe_key=f"{SEND_JOB}:{connection_id}:{tag}",
        run_after=run_after,
        concurrency_key=concurrency_key(connection_id),
    )


@dataclass
class PlanResult:
    """What a planning pass did: write-backs planned per connection, and superseded."""

    planned: dict[uuid.UUID, int] = field(default_factory=dict)
    superseded: int = 0

    @property
    def total(self) -> int:
        return sum(self.planned.values())


#: The digest of an empty owned state (nothing confirmed yet).
EMPTY_KEY = OwnedState().key()


async def _desired(
    session: AsyncSession, connections: Mapping[uuid.UUID, repository.DamConnection]
) -> dict[tuple[uuid.UUID, uuid.UUID], OwnedState]:
    """Per (asset, enabled DAM connection), the owned state its desired tags land as."""
    rules = await repository.rule_targets(session)
    concepts = await repository.desired_concepts(session, [rule_id for rule_id, _ in rules])
    out: dict[tuple[uuid.UUID, uuid.UUID], OwnedState] = {}
    for asset_id, (connection_id, by_rule) in concepts.items():
        connection = connections.get(connection_id)
        if connection is None or not connection.enabled:
            continue
        landed = []
        for rule_id, targets in rules:
            concept = by_rule.get(rule_id)
            target = None if concept is None else landing(targets, str(connection_id))
            if target is not None and concept is not None:
                landed.append((target, concept))
        out[(asset_id, connection_id)] = owned_state(landed)
    return out


def _row(
    key: tuple[uuid.UUID, uuid.UUID],
    version: int,
    want: OwnedState,
    confirmed: OwnedState,
    run_id: uuid.UUID | None,
    now: datetime,
) -> dict[str, Any]:
    full = want.against(confirmed)
    planned_metadata = {
        k: v for k, v in full.metadata.items() if not same_value(v, confirmed.metadata.get(k))
    }
    return {
        "id": uuid.uuid4(),
        "asset_id": key[0],
        "connection_id": key[1],
        "version": version,
        "status": WriteBackStatus.pending.value,
        "attempts": 0,
        "run_after": now,
        "desired_tags": want.tag_list(),
        "desired_metadata": full.metadata_dict(),
        "planned_add": sorted(want.tags - confirmed.tags),
        "planned_remove": sorted(confirmed.tags - want.tags),
        "planned_metadata": dict(sorted(planned_metadata.items())),
        "run_id": run_id,
        "dry_run": False,
        "created_at": now,
        "updated_at": now,
    }


async def plan_writebacks(session: AsyncSession, *, run_id: uuid.UUID | None = None) -> PlanResult:
    """Plan one write-back per (asset, DAM connection) whose desired owned state differs
    from the confirmed one and from the last version planned; idempotent (a second pass
    over unchanged desired tags plans nothing). Tags of deleted or disabled rules are
    desired no more, so their owned tags are removed. Flushes; queues the send jobs."""
    now = utcnow()
    connections = await repository.dam_connections(session)
    desired = await _desired(session, connections)
    keys = await repository.state_keys(session)
    for key in keys:
        connection = connections.get(key[1])
        if key not in desired and connection is not None and connection.enabled:
            desired[key] = OwnedState()
    to_plan: list[tuple[tuple[uuid.UUID, uuid.UUID], OwnedState, str]] = []
    back: list[tuple[tuple[uuid.UUID, uuid.UUID], OwnedState, str]] = []
    digests: dict[tuple[frozenset[str], tuple[tuple[str, Any], ...]], str] = {}
    for key, want in desired.items():
        state = keys.get(key)
        # Assets share a handful of states (one per tier): digest each once.
        memo = (want.tags, tuple(sorted(want.metadata.items())))
        want_key = digests.get(memo) or digests.setdefault(memo, want.key())
        confirmed_key = state.confirmed_key if state is not None else EMPTY_KEY
        if want_key == confirmed_key:
            if state is not None and state.planned_key not in ("", confirmed_key):
                # Back to what the DAM holds before the last plan was sent: drop that plan.
                back.append((key, want, want_key))
            continue
        if state is not None and state.planned_key == want_key:
            if not (state.planned_dry_run and not connections[key[1]].dry_run):
                continue  # already planned (pending, sent, refused, or a dry run)
        to_plan.append((key, want, want_key))
    confirmed = await repository.confirmed_states(session, [k for k, _, _ in to_plan])
    rows: list[dict[str, Any]] = []
    new_states: list[dict[str, Any]] = []
    changed_states = [_state_values(k, keys[k].planned_version, w, wk) for k, w, wk in back]
    supersede = [k for k, _, _ in back]
    for key, want, want_key in to_plan:
        state = keys.get(key)
        tags, metadata = confirmed.get(key, ([], {}))
        version = (state.planned_version if state is not None else 0) + 1
        rows.append(_row(key, version, want, OwnedState(frozenset(tags), metadata), run_id, now))
        values = _state_values(key, version, want, want_key)
        if state is None:
            new_states.append(
                {
                    **values,
                    "confirmed_tags": [],
                    "confirmed_metadata": {},
                    "confirmed_key": EMPTY_KEY,
                    "updated_at": now,
                }
            )
        else:
            supersede.append(key)
            changed_states.append(values)
    result = PlanResult(superseded=len(supersede))
    await repository.supersede_pending(session, supersede, now)
    await _write(session, WriteBackState, new_states, insert_rows=True)
    await _write(session, WriteBackState, changed_states, insert_rows=False)
    await _write(session, WriteBack, rows, insert_rows=True)
    for row in rows:
        result.planned[row["connection_id"]] = result.planned.get(row["connection_id"], 0) + 1
    tag = str(run_id) if run_id is not None else now.isoformat()
    for connection_id in sorted(result.planned):
        await queue_send(session, connection_id, tag=tag)
    log.info(
        "writeback.planned",
        run_id=str(run_id) if run_id else None,
        planned=result.total,
        superseded=result.superseded,
        connections=len(result.planned),
    )
    return result


def _state_values(
    key: tuple[uuid.UUID, uuid.UUID], version: int, planned: OwnedState, planned_key: str
) -> dict[str, Any]:
    return {
        "asset_id": key[0],
        "connection_id": key[1],
        "planned_version": version,
        "planned_tags": planned.tag_list(),
        "planned_metadata": planned.metadata_dict(),
        "planned_key": planned_key,
        "planned_dry_run": False,
    }


async def _write(
    session: AsyncSession,
    model: type[WriteBack] | type[WriteBackState],
    values: Sequence[dict[str, Any]],
    *,
    insert_rows: bool,
) -> None:
    for part in repository.chunks(values, 1000):
        if insert_rows:
            await session.execute(insert(model), list(part))
        else:
            await session.execute(update(model), list(part))
    await session.flush()


__all__ = [
    "EMPTY_KEY",
    "SEND_JOB",
    "PlanResult",
    "concurrency_key",
    "plan_writebacks",
    "queue_send",
]
