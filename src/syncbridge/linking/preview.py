"""Dry-running link rules over the stored assets and records; nothing is written."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.auth.service import Role
from syncbridge.errors import Forbidden, InvalidInput
from syncbridge.linking import repository
from syncbridge.linking.matching import (
    AssetIndex,
    Found,
    RecordView,
    RuleView,
    find_links,
)
from syncbridge.linking.repository import RecordFilter
from syncbridge.linking.run import add_rows, rule_ints, via_matcher, via_record_ids
from syncbridge.linking.schemas import (
    LinkPreviewRequest,
    LinkPreviewResult,
    LinkRuleCreate,
    PreviewLink,
    PreviewRule,
    PreviewRuleResult,
)
from syncbridge.linking.service import default_name, rule_errors
from syncbridge.models import Asset, StoredRecord
from syncbridge.models.linking import LinkRule
from syncbridge.offload import run_cpu

__all__ = ["DRAFT_PREFIX", "preview"]

DRAFT_PREFIX = "draft-"
_ASSET_BATCH = 5000
_RECORD_BATCH = 2000


@dataclass
class _Tally:
    links: int = 0
    records: set[int] = field(default_factory=set)
    assets: set[int] = field(default_factory=set)
    examples: list[Found] = field(default_factory=list)


async def preview(session: AsyncSession, body: LinkPreviewRequest, role: Role) -> LinkPreviewResult:
    """The links ``body``'s rules would find over the stored items, per rule: counts and
    examples. Drafts need the editor role (Forbidden) and are validated like a save
    (InvalidInput, fields ``draft_rules.N.<field>``). Via drafts pass on the stored links of
    the records they name."""
    if body.draft_rules and not role.allows(Role.editor):
        raise Forbidden("Previewing draft rules needs the 'editor' role.")
    rules, names = await _rules(session, body)
    connections = await repository.connector_keys(session)
    index = await _index(session, connections)
    direct = [r for r in rules if not r.via]
    which = RecordFilter(repository.scope_predicate(rules, connections))
    records, truncated = await _records(session, which, connections, body.max_records)
    found = await run_cpu(find_links, records, direct, index)
    found += await _via_found(session, rules, records, connections)
    tallies: dict[str, _Tally] = {rule.id: _Tally() for rule in rules}
    for item in found:
        tally = tallies[item.rule.id]
        tally.links += 1
        tally.records.add(item.record_id)
        tally.assets.add(item.asset_id)
        if len(tally.examples) < body.examples:
            tally.examples.append(item)
    examples = await _describe(session, [e for t in tallies.values() for e in t.examples])
    return LinkPreviewResult(
        rules=[
            PreviewRuleResult(
                rule=PreviewRule(
                    id=rule.id,
                    version=rule.version,
                    draft=rule.id.startswith(DRAFT_PREFIX),
                    name=names[rule.id],
                ),
                links=tallies[rule.id].links,
                records=len(tallies[rule.id].records),
                assets=len(tallies[rule.id].assets),
                examples=[examples[id(e)] for e in tallies[rule.id].examples],
            )
            for rule in rules
        ],
        records_read=len(records),
        assets_indexed=index.size,
        truncated=truncated,
    )


async def _rules(
    session: AsyncSession, body: LinkPreviewRequest
) -> tuple[list[RuleView], dict[str, str]]:
    rules: list[RuleView] = []
    names: dict[str, str] = {}
    saved: list[LinkRule] = []
    if body.rule_ids:
        missing = []
        for i, rule_id in enumerate(body.rule_ids):
            rule = await repository.get_rule(session, rule_id)
            if rule is None:
                missing.append({"field": f"rule_ids.{i}", "reason": "no such link rule"})
            else:
                saved.append(rule)
        if missing:
            raise InvalidInput("Unknown link rules.", errors=missing)
    elif not body.draft_rules:
        saved = list(await session.scalars(repository.rules_query(enabled=True)))
    for rule in saved:
        view = repository.rule_view(rule)
        rules.append(RuleView(**{**view.__dict__, "enabled": True}))
        names[view.id] = rule.name
    errors = []
    for i, draft in enumerate(body.draft_rules):
        errors += rule_errors(draft.model_dump(), prefix=f"draft_rules.{i}.")
    if errors:
        raise InvalidInput("A draft link rule is not valid.", errors=errors)
    for i, draft in enumerate(body.draft_rules):
        view = _draft_view(i, draft)
        rules.append(view)
        names[view.id] = draft.name or default_name(draft)
    return rules, names


def _draft_view(index: int, draft: LinkRuleCreate) -> RuleView:
    return RuleView(
        id=f"{DRAFT_PREFIX}{index}",
        version=None,
        connector_key=draft.connector_key,
        connection_id=draft.connection_id,
        stream=draft.stream,
        field_path=draft.field_path,
        match=draft.match,
        parameter=draft.parameter,
        asset_key=draft.asset_key,
        via_stream=draft.via_stream,
        asset_connector_key=draft.asset_connector_key,
    )


async def _index(session: AsyncSession, connections: dict[uuid.UUID, str]) -> AssetIndex:
    index = AssetIndex()
    after: uuid.UUID | None = None
    while rows := await repository.asset_batch(session, after, _ASSET_BATCH, None):
        await run_cpu(add_rows, index, rows, connections)
        after = repository.as_uuid(rows[-1][0])
    return index


async def _records(
    session: AsyncSession, which: RecordFilter, connections: dict[uuid.UUID, str], limit: int
) -> tuple[list[RecordView], bool]:
    out: list[RecordView] = []
    after: uuid.UUID | None = None
    while len(out) < limit:
        size = min(_RECORD_BATCH, limit - len(out))
        raw = await repository.record_batch(session, which, after, size)
        batch = await run_cpu(repository.decode_records, raw, connections)
        out += batch
        if len(batch) < size:
            return out, False
        after = uuid.UUID(int=batch[-1].id)
    more = await repository.record_batch(session, which, after, 1)
    return out, bool(more)


async def _via_found(
    session: AsyncSession,
    rules: list[RuleView],
    records: list[RecordView],
    connections: dict[uuid.UUID, str],
) -> list[Found]:
    via = [r for r in rules if r.via]
    if not via:
        return []
    targets = await via_record_ids(session, via, connections)
    stored = rule_ints([r for r in await repository.active_rules(session) if not r.via])
    return await via_matcher(via, targets, stored)(session, records)


async def _describe(session: AsyncSession, found: list[Found]) -> dict[int, PreviewLink]:
    assets = {uuid.UUID(int=f.asset_id) for f in found}
    records = {uuid.UUID(int=f.record_id) for f in found}
    a_rows: dict[int, tuple[str, uuid.UUID]] = {}
    r_rows: dict[int, tuple[str, uuid.UUID, str]] = {}
    if assets:
        rows = await session.execute(
            select(Asset.id, Asset.external_id, Asset.connection_id).where(Asset.id.in_(assets))
        )
        a_rows = {aid.int: (ext, cid) for aid, ext, cid in rows}
    if records:
        rows2 = await session.execute(
            select(
                StoredRecord.id,
                StoredRecord.external_id,
                StoredRecord.connection_id,
                StoredRecord.stream,
            ).where(StoredRecord.id.in_(records))
        )
        r_rows = {rid.int: (ext, cid, stream) for rid, ext, cid, stream in rows2}
    by_record: dict[int, PreviewLink] = {}
    for item in found:
        asset_ext, asset_conn = a_rows[item.asset_id]
        record_ext, record_conn, stream = r_rows[item.record_id]
        by_record[id(item)] = PreviewLink(
            asset_id=uuid.UUID(int=item.asset_id),
            asset_external_id=asset_ext,
            asset_connection_id=asset_conn,
            record_id=uuid.UUID(int=item.record_id),
            record_external_id=record_ext,
            record_connection_id=record_conn,
            record_stream=stream,
            field_path=item.rule.field_path,
            value=item.value,
        )
    return by_record
