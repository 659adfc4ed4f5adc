"""Link rule writes: create, edit (one new version per change), archive; and reads.

Every write appends an immutable :class:`LinkRuleVersion` when the content changes, records
an audit entry, and queues a ``linking.relink`` job, all in the caller's transaction.
Services only ``flush()``; the request (or bootstrap) owns the commit.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.audit.service import record
from syncbridge.errors import Conflict, InvalidInput, NotFound
from syncbridge.jobs.service import enqueue
from syncbridge.linking import repository
from syncbridge.linking.schemas import (
    LinkRuleCreate,
    LinkRuleOut,
    LinkRulePatch,
    LinkRuleVersionOut,
)
from syncbridge.mapping.field_path import FieldPathError, parse_field_path
from syncbridge.mapping.service import check_connection, same_value
from syncbridge.models import utcnow
from syncbridge.models.linking import LinkRule, LinkRuleVersion
from syncbridge.store.paging import Page, PageParams, fetch_page
from syncbridge.store.preconditions import UNCONDITIONAL, Precondition

__all__ = [
    "CONTENT_FIELDS",
    "ENTITY_TYPE",
    "RELINK_JOB",
    "archive_rule",
    "check_rule",
    "create_rule",
    "get_rule",
    "queue_relink",
    "update_rule",
]

ENTITY_TYPE = "link_rule"
#: The job that re-links the store after a rule changed (``syncbridge.linking.jobs``).
RELINK_JOB = "linking.relink"

CONTENT_FIELDS = (
    "name",
    "connector_key",
    "connection_id",
    "stream",
    "field_path",
    "match",
    "parameter",
    "asset_key",
    "via_stream",
    "asset_connector_key",
    "enabled",
)
NULLABLE_FIELDS = frozenset(
    {"connection_id", "stream", "parameter", "via_stream", "asset_connector_key"}
)

Errors = list[dict[str, str]]


def rule_errors(content: dict[str, Any], prefix: str = "") -> Errors:
    """Field-level reasons the rule content is invalid (empty when it is valid)."""
    errors: Errors = []
    try:
        parse_field_path(content["field_path"])
    except FieldPathError as exc:
        errors.append({"field": "field_path", "reason": exc.reason})
    query = content["match"] == "query_parameter"
    if query and not content.get("parameter"):
        errors.append({"field": "parameter", "reason": "'query_parameter' needs a parameter"})
    if not query and content.get("parameter"):
        errors.append({"field": "parameter", "reason": "only 'query_parameter' takes one"})
    via = content["asset_key"] == "record"
    if via and not content.get("via_stream"):
        errors.append({"field": "via_stream", "reason": "asset_key 'record' needs a via_stream"})
    if not via and content.get("via_stream"):
        errors.append({"field": "via_stream", "reason": "only asset_key 'record' takes one"})
    if via and content.get("asset_connector_key"):
        errors.append(
            {"field": "asset_connector_key", "reason": "asset_key 'record' links what it names"}
        )
    return [{"field": prefix + e["field"], "reason": e["reason"]} for e in errors]


def check_rule(content: dict[str, Any], prefix: str = "") -> None:
    """Raise InvalidInput with every field-level reason the rule content is invalid."""
    errors = rule_errors(content, prefix)
    if errors:
        raise InvalidInput("The link rule is not valid.", errors=errors)


def snapshot(rule: LinkRule) -> dict[str, Any]:
    """A JSON-safe picture of a rule, for audit entries."""
    data: dict[str, Any] = {field: getattr(rule, field) for field in CONTENT_FIELDS}
    data["connection_id"] = str(rule.connection_id) if rule.connection_id else None
    data["id"] = str(rule.id)
    data["version"] = rule.version
    data["revision"] = rule.revision
    data["default_key"] = rule.default_key
    data["archived_at"] = rule.archived_at.isoformat() if rule.archived_at else None
    return data


async def _changed(
    session: AsyncSession,
    rule: LinkRule,
    action: str,
    actor: str,
    before: Any,
    *,
    relink: bool = True,
) -> None:
    """Audit the change and queue the relink that applies it."""
    await record(
        session,
        actor=actor,
        action=action,
        entity_type=ENTITY_TYPE,
        entity_id=rule.id,
        before=before,
        after=snapshot(rule),
    )
    if relink:
        await queue_relink(session, f"{rule.id}:{rule.revision}", {"rule_id": str(rule.id)})


async def queue_relink(session: AsyncSession, reason: str, payload: dict[str, Any]) -> None:
    """Queue a relink of the store in the caller's transaction, once per ``reason``."""
    await enqueue(session, RELINK_JOB, payload, dedupe_key=f"{RELINK_JOB}:{reason}")


async def _append_version(session: AsyncSession, rule: LinkRule, actor: str) -> None:
    content = {field: getattr(rule, field) for field in CONTENT_FIELDS}
    session.add(LinkRuleVersion(rule_id=rule.id, version=rule.version, created_by=actor, **content))
    await session.flush()


def default_name(body: LinkRuleCreate) -> str:
    """A readable name for a rule created without one."""
    scope = body.connector_key + (f":{body.stream}" if body.stream else "")
    return f"{scope} {body.field_path} {body.match} -> asset {body.asset_key}"[:200]


async def create_rule(
    session: AsyncSession,
    body: LinkRuleCreate,
    actor: str,
    *,
    default_key: str | None = None,
    relink: bool = True,
) -> LinkRule:
    """Save a new rule as version 1; audited, a relink queued (unless ``relink`` is false:
    the caller queues one). Raises InvalidInput."""
    content = body.model_dump()
    check_rule(content)
    await check_connection(session, body.connection_id)
    content["name"] = body.name or default_name(body)
    rule = LinkRule(**content, version=1, revision=1, default_key=default_key)
    session.add(rule)
    await session.flush()
    await _append_version(session, rule, actor)
    await _changed(session, rule, "link_rule.create", actor, None, relink=relink)
    return rule


async def get_rule(
    session: AsyncSession, rule_id: uuid.UUID, *, for_update: bool = False
) -> LinkRule:
    """The rule (archived ones too); raises NotFound."""
    rule = await repository.get_rule(session, rule_id, for_update=for_update)
    if rule is None:
        raise NotFound(f"No link rule {rule_id}.")
    return rule


async def update_rule(
    session: AsyncSession,
    rule_id: uuid.UUID,
    patch: LinkRulePatch,
    actor: str,
    expect: Precondition = UNCONDITIONAL,
) -> LinkRule:
    """Apply a patch; a real change bumps the version, appends a snapshot, is audited and
    queues a relink. A patch that changes nothing writes nothing. Raises NotFound, Conflict
    (archived rule), PreconditionFailed or InvalidInput."""
    rule = await get_rule(session, rule_id, for_update=True)
    if rule.archived_at is not None:
        raise Conflict(f"Link rule {rule_id} is archived and cannot be edited.")
    given = patch.model_dump(include=patch.model_fields_set)
    nulls = sorted(f for f, v in given.items() if v is None and f not in NULLABLE_FIELDS)
    if nulls:
        raise InvalidInput(
            "These fields cannot be null.",
            errors=[{"field": f, "reason": "must not be null"} for f in nulls],
        )
    merged = {field: getattr(rule, field) for field in CONTENT_FIELDS} | given
    check_rule(merged)
    if "connection_id" in given:
        await check_connection(session, given["connection_id"])
    expect.check(rule.revision, f"Link rule {rule_id}")
    changes = {f: merged[f] for f in CONTENT_FIELDS if not same_value(merged[f], getattr(rule, f))}
    if not changes:
        return rule
    before = snapshot(rule)
    for name, value in changes.items():
        setattr(rule, name, value)
    rule.version += 1
    rule.revision += 1
    rule.updated_at = utcnow()
    await _append_version(session, rule, actor)
    await _changed(session, rule, "link_rule.update", actor, before)
    return rule


async def archive_rule(
    session: AsyncSession, rule_id: uuid.UUID, actor: str, expect: Precondition = UNCONDITIONAL
) -> LinkRule:
    """Archive a rule (idempotent): it stops linking and its links go at the relink; it and
    its versions stay readable."""
    rule = await get_rule(session, rule_id, for_update=True)
    expect.check(rule.revision, f"Link rule {rule_id}")
    if rule.archived_at is not None:
        return rule
    before = snapshot(rule)
    rule.revision += 1
    rule.archived_at = utcnow()
    rule.updated_at = rule.archived_at
    await session.flush()
    await _changed(session, rule, "link_rule.archive", actor, before)
    return rule


# --- what the API answers -----------------------------------------------------------------


async def list_rules(
    session: AsyncSession,
    paging: PageParams,
    *,
    connector_key: str | None = None,
    stream: str | None = None,
    enabled: bool | None = None,
    include_archived: bool = False,
) -> Page[LinkRuleOut]:
    """Rules by name; archived ones only with ``include_archived``."""
    stmt = repository.rules_query(
        connector_key=connector_key,
        stream=stream,
        enabled=enabled,
        include_archived=include_archived,
    )
    rules, total = await fetch_page(session, stmt, paging)
    return Page.of([LinkRuleOut.model_validate(r) for r in rules], total, paging)


async def versions_page(
    session: AsyncSession, rule_id: uuid.UUID, paging: PageParams
) -> Page[LinkRuleVersionOut]:
    """One page of a rule's versions, oldest first; NotFound for an unknown rule."""
    await get_rule(session, rule_id)
    versions, total = await fetch_page(session, repository.versions_query(rule_id), paging)
    return Page.of([LinkRuleVersionOut.model_validate(v) for v in versions], total, paging)


async def show_version(
    session: AsyncSession, rule_id: uuid.UUID, version: int
) -> LinkRuleVersionOut:
    """One version of a rule; NotFound for an unknown rule or version."""
    await get_rule(session, rule_id)
    found = await repository.get_version(session, rule_id, version)
    if found is None:
        raise NotFound(f"Link rule {rule_id} has no version {version}.")
    return LinkRuleVersionOut.model_validate(found)
