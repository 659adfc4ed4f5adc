"""Linking the store: after a run (:func:`link_run`) and after a rule change (:func:`relink`).

Both read the store in batches by id, each batch in its own unit of work: records are
matched against an in-memory :class:`~syncbridge.linking.matching.AssetIndex` off the event
loop, and each batch's links are made equal to what was found (added, removed, evidence
updated; unchanged links untouched). Both are idempotent: a second pass writes nothing.

:func:`link_run` works on what the run changed:

1. links of the assets and records the run tombstoned are deleted;
2. records the run changed are matched against every live asset;
3. every other record in a rule's scope is matched against the assets the run changed;
4. via rules (a deal naming its campaign) pass the campaign's links on to the records
   naming it; they are recomputed whenever the run changed any link.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.linking import links, matching, repository
from syncbridge.linking.links import LinkDiff, StoredLink
from syncbridge.linking.matching import (
    AssetIndex,
    Found,
    RecordView,
    RuleView,
    via_targets,
)
from syncbridge.linking.repository import RecordFilter
from syncbridge.logs import get_logger
from syncbridge.models import Asset, RunStream
from syncbridge.offload import run_cpu
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.tasks import cancel_and_wait

__all__ = [
    "LinkReport",
    "add_rows",
    "build_index",
    "link_run",
    "relink",
    "rule_ints",
    "via_matcher",
    "via_record_ids",
]

Sessionmaker = async_sessionmaker[AsyncSession]
log = get_logger(__name__)

#: Records matched (and their links rewritten) per unit of work.
RECORD_BATCH = 5000
#: Assets read per query while building an index.
ASSET_BATCH = 2000


@dataclass
class LinkReport:
    """What a linking pass did."""

    records: int = 0
    diff: LinkDiff = field(default_factory=LinkDiff)


@dataclass(frozen=True)
class _Rules:
    connections: dict[uuid.UUID, str]
    direct: list[RuleView]
    via: list[RuleView]

    @property
    def via_ids(self) -> frozenset[int]:
        return rule_ints(self.via)

    @property
    def direct_ids(self) -> frozenset[int]:
        return rule_ints(self.direct)


def rule_ints(rules: Sequence[RuleView]) -> frozenset[int]:
    """The row ids (``uuid.UUID.int``) of saved rules."""
    return frozenset(uuid.UUID(rule.id).int for rule in rules)


async def _load_rules(session: AsyncSession) -> _Rules:
    rules = await repository.active_rules(session)
    return _Rules(
        connections=await repository.connector_keys(session),
        direct=[r for r in rules if not r.via],
        via=[r for r in rules if r.via],
    )


async def build_index(
    sessionmaker: Sessionmaker, connections: dict[uuid.UUID, str], changed_by: uuid.UUID | None
) -> AssetIndex:
    """An index of every live asset (or those run ``changed_by`` changed)."""
    index = AssetIndex()
    stmt = repository.assets_query(changed_by)
    async for rows in repository.stream_rows(sessionmaker, stmt, ASSET_BATCH):
        await run_cpu(add_rows, index, rows, connections)
    return index


def add_rows(
    index: AssetIndex, rows: list[repository.RawAsset], connections: dict[uuid.UUID, str]
) -> None:
    """Decode raw asset rows into ``index`` (pure: run it off the event loop)."""
    index.add_all(repository.decode_assets(rows, connections))


Owns = Callable[[StoredLink], bool]
Matcher = Callable[[AsyncSession, list[RecordView]], Awaitable[list[Found]]]


async def _pass(
    sessionmaker: Sessionmaker,
    which: RecordFilter,
    connections: dict[uuid.UUID, str],
    match: Matcher,
    owns: Owns,
    run_id: uuid.UUID | None,
) -> LinkReport:
    """Match every record of ``which``, batch by batch, and rewrite the links ``owns``.

    On PostgreSQL a batch's rewrite (matching, then writing in its own unit of work) runs
    while the next batch is read and decoded, so the store's work and this process's overlap;
    batches hold disjoint records, so their rewrites never touch the same links. SQLite has
    one writer: there each rewrite is awaited before the next batch is read.
    """
    report = LinkReport()
    overlap = sessionmaker.kw["bind"].dialect.name == "postgresql"
    stmt = repository.records_query(which)
    pending: asyncio.Task[LinkDiff] | None = None
    try:
        async for raw in repository.stream_rows(sessionmaker, stmt, RECORD_BATCH):
            batch = await run_cpu(repository.decode_records, raw, connections)
            report.records += len(batch)
            rewrite = partial(_rewrite, batch=batch, match=match, owns=owns, run_id=run_id)
            task = asyncio.ensure_future(in_unit_of_work(sessionmaker, rewrite))
            if pending is not None:
                report.diff += await pending
            pending = task
            if not overlap:
                report.diff += await pending
                pending = None
        if pending is not None:
            report.diff += await pending
            pending = None
    finally:
        if pending is not None:  # a failure elsewhere: the rewrite in flight is abandoned
            await cancel_and_wait([pending])
    return report


def _owned(rows: list[links.RawLink], owns: Owns) -> list[StoredLink]:
    return [link for link in links.decode_links(rows) if owns(link)]


async def _rewrite(
    session: AsyncSession,
    *,
    batch: list[RecordView],
    match: Matcher,
    owns: Owns,
    run_id: uuid.UUID | None,
) -> LinkDiff:
    await links.prepare_rewrite(session)
    found = await match(session, batch)
    await links.lock_links(session)  # matching ran unlocked: only the rewrite queues up
    existing = await links.links_of_records(session, [r.id for r in batch])
    owned = await run_cpu(_owned, existing, owns)
    return await links.replace_links(session, owned, found, run_id)


def _direct_matcher(rules: Sequence[RuleView], index: AssetIndex) -> Matcher:
    matcher = matching.Matcher(rules, index)  # one for the pass: it remembers values

    async def match(_session: AsyncSession, batch: list[RecordView]) -> list[Found]:
        return await run_cpu(matcher.find, batch)

    return match


def via_matcher(
    rules: Sequence[RuleView],
    targets: dict[str, dict[tuple[uuid.UUID, str], int]],
    direct_ids: frozenset[int],
) -> Matcher:
    """Found links of via rules: the assets linked (directly) to the records named."""

    async def match(session: AsyncSession, batch: list[RecordView]) -> list[Found]:
        named: list[tuple[RecordView, RuleView, int, str]] = []
        for record in batch:
            for rule in rules:
                if not record.scope.admits(rule) or rule.via_stream is None:
                    continue
                table = targets.get(rule.via_stream, {})
                for external_id, value in via_targets(record, rule):
                    target = table.get((record.scope.connection_id, external_id))
                    if target is not None:
                        named.append((record, rule, target, value))
        linked = await links.assets_linked_to(
            session, sorted({target for _, _, target, _ in named}), direct_ids
        )
        return [
            Found(asset_id, record.id, rule, value)
            for record, rule, target, value in named
            for asset_id in linked.get(target, ())
        ]

    return match


async def via_record_ids(
    session: AsyncSession, rules: Sequence[RuleView], connections: dict[uuid.UUID, str]
) -> dict[str, dict[tuple[uuid.UUID, str], int]]:
    """Per via stream: its live records (row ids as ``uuid.UUID.int``) by (connection,
    external id), in the via rules' connections."""
    out: dict[str, dict[tuple[uuid.UUID, str], int]] = {}
    for rule in rules:
        if rule.via_stream is None:
            continue
        ids = [
            cid
            for cid, key in connections.items()
            if key == rule.connector_key and rule.connection_id in (None, cid)
        ]
        found = await repository.records_by_external_id(session, ids, rule.via_stream)
        out.setdefault(rule.via_stream, {}).update(found)
    return out


async def _via_pass(
    sessionmaker: Sessionmaker, rules: _Rules, run_id: uuid.UUID | None
) -> LinkReport:
    if not rules.via:
        return LinkReport()
    targets = await in_unit_of_work(
        sessionmaker, lambda s: via_record_ids(s, rules.via, rules.connections), write=False
    )
    which = RecordFilter(repository.scope_predicate(rules.via, rules.connections))
    via_ids = rules.via_ids
    return await _pass(
        sessionmaker,
        which,
        rules.connections,
        via_matcher(rules.via, targets, rules.direct_ids),
        lambda link: link.key[2] in via_ids,
        run_id,
    )


async def link_run(sessionmaker: Sessionmaker, run_id: uuid.UUID) -> LinkReport:
    """Link what run ``run_id`` changed (see the module docstring). Idempotent."""
    rules = await in_unit_of_work(sessionmaker, _load_rules, write=False)
    report = LinkReport()
    report.diff.removed += await in_unit_of_work(
        sessionmaker, lambda s: links.drop_links_of_tombstones(s, run_id)
    )
    via_ids = rules.via_ids
    in_pages = await in_unit_of_work(
        sessionmaker, lambda s: _linked_in_pages(s, run_id), write=False
    )
    if rules.direct:
        scopes = repository.scope_predicate(rules.direct, rules.connections)
        changed = RecordFilter(scopes, changed_by=run_id, leaving_out=tuple(in_pages))
        if await _any(sessionmaker, changed):
            index = await build_index(sessionmaker, rules.connections, None)
            _add(
                report,
                await _pass(
                    sessionmaker,
                    changed,
                    rules.connections,
                    _direct_matcher(rules.direct, index),
                    lambda link: link.key[2] not in via_ids,
                    run_id,
                ),
            )
            del index
        others = RecordFilter(scopes, unchanged_by=run_id)
        if await _assets_changed(sessionmaker, run_id) and await _any(sessionmaker, others):
            fresh = await build_index(sessionmaker, rules.connections, run_id)
            ids = fresh.asset_ids
            _add(
                report,
                await _pass(
                    sessionmaker,
                    others,
                    rules.connections,
                    _direct_matcher(rules.direct, fresh),
                    lambda link: link.key[2] not in via_ids and link.key[0] in ids,
                    run_id,
                ),
            )
    # Links made in the pages count as changes: records naming a campaign pass them on.
    if report.diff.changed or in_pages or await _changed_via_records(sessionmaker, rules, run_id):
        _add(report, await _via_pass(sessionmaker, rules, run_id))
    log.info(
        "linking.run_linked",
        run_id=str(run_id),
        records=report.records,
        added=report.diff.added,
        removed=report.diff.removed,
        updated=report.diff.updated,
    )
    return report


#: How long before a stream's ``linked_since`` an asset change of another run still makes
#: the settle pass match the stream's records again: a page transaction that stamped its
#: assets before that time may have committed after the stream's index was read.
LINKED_IN_PAGES_MARGIN = timedelta(minutes=15)


async def _linked_in_pages(session: AsyncSession, run_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """The (connection, stream) pairs of the run whose pages were linked as they landed and
    need no settle pass: none when another run (or an event) changed an asset since shortly
    before the earliest of them started, since those streams' indexes may miss it."""
    rows = (
        await session.execute(
            select(RunStream.connection_id, RunStream.stream, RunStream.linked_since).where(
                RunStream.run_id == run_id, RunStream.linked_since.is_not(None)
            )
        )
    ).all()
    if not rows:
        return []
    since = min(at for _, _, at in rows if at is not None) - LINKED_IN_PAGES_MARGIN
    moved = await session.scalar(
        select(Asset.id)
        .where(
            Asset.updated_at >= since,
            or_(Asset.last_run_id.is_(None), Asset.last_run_id != run_id),
        )
        .limit(1)
    )
    if moved is not None:
        log.info("linking.pages_relinked", run_id=str(run_id), reason="assets changed meanwhile")
        return []
    return [(cid, stream) for cid, stream, _ in rows]


async def _changed_via_records(
    sessionmaker: Sessionmaker, rules: _Rules, run_id: uuid.UUID
) -> bool:
    if not rules.via:
        return False
    scopes = repository.scope_predicate(rules.via, rules.connections)
    return await _any(sessionmaker, RecordFilter(scopes, changed_by=run_id))


async def _assets_changed(sessionmaker: Sessionmaker, run_id: uuid.UUID) -> bool:
    """True when run ``run_id`` changed a live asset."""
    first = await in_unit_of_work(
        sessionmaker, lambda s: repository.asset_batch(s, None, 1, run_id), write=False
    )
    return bool(first)


async def _any(sessionmaker: Sessionmaker, which: RecordFilter) -> bool:
    """True when ``which`` selects at least one record."""
    first = await in_unit_of_work(
        sessionmaker, lambda s: repository.record_batch(s, which, None, 1), write=False
    )
    return bool(first)


def _add(report: LinkReport, other: LinkReport) -> None:
    report.records += other.records
    report.diff += other.diff


async def relink(sessionmaker: Sessionmaker) -> LinkReport:
    """Re-link every record with the rules as they are now (after a rule changed).

    Links of archived or disabled rules, of records a rule no longer reads, and of
    tombstones go; every record in a rule's scope is matched against every live asset.
    Idempotent.
    """
    rules = await in_unit_of_work(sessionmaker, _load_rules, write=False)
    report = LinkReport()

    async def cleanup(session: AsyncSession) -> int:
        removed = await links.drop_links_of_tombstones(session, None)
        active = [*rules.direct, *rules.via]
        return removed + await links.drop_links_outside(session, active, rules.connections)

    report.diff.removed += await in_unit_of_work(sessionmaker, cleanup)
    via_ids = rules.via_ids
    if rules.direct:
        index = await build_index(sessionmaker, rules.connections, None)
        which = RecordFilter(repository.scope_predicate(rules.direct, rules.connections))
        _add(
            report,
            await _pass(
                sessionmaker,
                which,
                rules.connections,
                _direct_matcher(rules.direct, index),
                lambda link: link.key[2] not in via_ids,
                None,
            ),
        )
    _add(report, await _via_pass(sessionmaker, rules, None))
    log.info(
        "linking.relinked",
        records=report.records,
        added=report.diff.added,
        removed=report.diff.removed,
        updated=report.diff.updated,
    )
    return report
