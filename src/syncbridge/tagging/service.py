"""Tag rule writes: create, edit (one new version per change), archive; and reads.

Every write appends an immutable :class:`TagRuleVersion` when the content changes and
records an audit entry, in the caller's transaction. Services only ``flush()``; the request
(or bootstrap) owns the commit.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.audit.service import record
from syncbridge.errors import Conflict, InvalidInput, NotFound
from syncbridge.mapping.service import same_value
from syncbridge.models import utcnow
from syncbridge.models.tagging import TagRule, TagRuleVersion
from syncbridge.store.paging import Page, PageParams, fetch_page
from syncbridge.store.preconditions import UNCONDITIONAL, Precondition
from syncbridge.tagging import repository
from syncbridge.tagging.schemas import TagRuleCreate, TagRuleOut, TagRulePatch, TagRuleVersionOut
from syncbridge.tagging.validation import rule_errors, store_errors

__all__ = [
    "CONTENT_FIELDS",
    "ENTITY_TYPE",
    "archive_rule",
    "check_rule",
    "create_rule",
    "get_rule",
    "list_rules",
    "patched_content",
    "rule_content",
    "show_version",
    "update_rule",
    "versions_page",
]

ENTITY_TYPE = "tag_rule"

CONTENT_FIELDS = (
    "name",
    "window_days",
    "cohort_by",
    "kpi",
    "smoothing",
    "min_sample",
    "tiers",
    "insufficient_concept",
    "targets",
    "enabled",
)
NULLABLE_FIELDS = frozenset({"smoothing"})
#: What a rate is smoothed with when its rule is created without saying.
DEFAULT_SMOOTHING: dict[str, Any] = {"method": "wilson", "confidence": 0.95}


async def check_rule(session: AsyncSession, content: dict[str, Any]) -> None:
    """Raise InvalidInput with every field-level reason the rule is invalid, on its own or
    against the store (taxonomy and connections)."""
    errors = rule_errors(content) + await store_errors(session, content)
    if errors:
        raise InvalidInput("The tag rule is not valid.", errors=errors)


def snapshot(rule: TagRule) -> dict[str, Any]:
    """A JSON-safe picture of a rule, for audit entries."""
    data: dict[str, Any] = {field: getattr(rule, field) for field in CONTENT_FIELDS}
    data["id"] = str(rule.id)
    data["version"] = rule.version
    data["revision"] = rule.revision
    data["default_key"] = rule.default_key
    data["archived_at"] = rule.archived_at.isoformat() if rule.archived_at else None
    return data


async def _audit(
    session: AsyncSession, rule: TagRule, action: str, actor: str, before: Any
) -> None:
    await record(
        session,
        actor=actor,
        action=action,
        entity_type=ENTITY_TYPE,
        entity_id=rule.id,
        before=before,
        after=snapshot(rule),
    )


async def _append_version(session: AsyncSession, rule: TagRule, actor: str) -> None:
    content = {field: getattr(rule, field) for field in CONTENT_FIELDS}
    session.add(TagRuleVersion(rule_id=rule.id, version=rule.version, created_by=actor, **content))
    await session.flush()


def default_name(content: dict[str, Any]) -> str:
    """A readable name for a rule created without one."""
    kpi = content["kpi"]
    what = (
        kpi["metric"] if kpi["type"] == "count" else f"{kpi['numerator']} per {kpi['denominator']}"
    )
    cohorts = ", ".join(content["cohort_by"]) or "all assets"
    return f"{what} by {cohorts}, last {content['window_days']} days"[:200]


def rule_content(body: TagRuleCreate) -> dict[str, Any]:
    """The rule's JSON content (UUIDs as text), with a rate's default smoothing."""
    content = body.model_dump(mode="json")
    if content["kpi"]["type"] == "rate" and content["smoothing"] is None:
        content["smoothing"] = dict(DEFAULT_SMOOTHING)
    content["name"] = body.name or default_name(content)
    return content


async def create_rule(
    session: AsyncSession,
    body: TagRuleCreate,
    actor: str,
    *,
    default_key: str | None = None,
) -> TagRule:
    """Save a new rule as version 1; audited. Raises InvalidInput."""
    content = rule_content(body)
    await check_rule(session, content)
    rule = TagRule(**content, version=1, revision=1, default_key=default_key)
    session.add(rule)
    await session.flush()
    await _append_version(session, rule, actor)
    await _audit(session, rule, "tag_rule.create", actor, None)
    return rule


async def get_rule(
    session: AsyncSession, rule_id: uuid.UUID, *, for_update: bool = False
) -> TagRule:
    """The rule (archived ones too); raises NotFound."""
    rule = await repository.get_rule(session, rule_id, for_update=for_update)
    if rule is None:
        raise NotFound(f"No tag rule {rule_id}.")
    return rule


def _given(patch: TagRulePatch) -> dict[str, Any]:
    """The fields a patch sets (JSON), refusing null where a field cannot be cleared."""
    given = patch.model_dump(mode="json", include=patch.model_fields_set)
    nulls = sorted(f for f, v in given.items() if v is None and f not in NULLABLE_FIELDS)
    if nulls:
        raise InvalidInput(
            "These fields cannot be null.",
            errors=[{"field": f, "reason": "must not be null"} for f in nulls],
        )
    return given


def patched_content(rule: TagRule, patch: TagRulePatch) -> dict[str, Any]:
    """The rule's content with ``patch`` applied (not yet checked); raises InvalidInput for
    a null where a field cannot be cleared."""
    return {field: getattr(rule, field) for field in CONTENT_FIELDS} | _given(patch)


async def update_rule(
    session: AsyncSession,
    rule_id: uuid.UUID,
    patch: TagRulePatch,
    actor: str,
    expect: Precondition = UNCONDITIONAL,
) -> TagRule:
    """Apply a patch; a real change bumps the version, appends a snapshot and is audited. A
    patch that changes nothing writes nothing. Raises NotFound, Conflict (archived rule),
    PreconditionFailed or InvalidInput."""
    rule = await get_rule(session, rule_id, for_update=True)
    if rule.archived_at is not None:
        raise Conflict(f"Tag rule {rule_id} is archived and cannot be edited.")
    merged = patched_content(rule, patch)
    await check_rule(session, merged)
    expect.check(rule.revision, f"Tag rule {rule_id}")
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
    await _audit(session, rule, "tag_rule.update", actor, before)
    return rule


async def archive_rule(
    session: AsyncSession, rule_id: uuid.UUID, actor: str, expect: Precondition = UNCONDITIONAL
) -> TagRule:
    """Archive a rule (idempotent): it stops tagging; it and its versions stay readable."""
    rule = await get_rule(session, rule_id, for_update=True)
    expect.check(rule.revision, f"Tag rule {rule_id}")
    if rule.archived_at is not None:
        return rule
    before = snapshot(rule)
    rule.revision += 1
    rule.archived_at = utcnow()
    rule.updated_at = rule.archived_at
    await session.flush()
    await _audit(session, rule, "tag_rule.archive", actor, before)
    return rule


# --- what the API answers -----------------------------------------------------------------


async def list_rules(
    session: AsyncSession,
    paging: PageParams,
    *,
    enabled: bool | None = None,
    include_archived: bool = False,
) -> Page[TagRuleOut]:
    """Rules by name; archived ones only with ``include_archived``."""
    stmt = repository.rules_query(enabled=enabled, include_archived=include_archived)
    rules, total = await fetch_page(session, stmt, paging)
    return Page.of([TagRuleOut.model_validate(r) for r in rules], total, paging)


async def versions_page(
    session: AsyncSession, rule_id: uuid.UUID, paging: PageParams
) -> Page[TagRuleVersionOut]:
    """One page of a rule's versions, oldest first; NotFound for an unknown rule."""
    await get_rule(session, rule_id)
    versions, total = await fetch_page(session, repository.versions_query(rule_id), paging)
    return Page.of([TagRuleVersionOut.model_validate(v) for v in versions], total, paging)


async def show_version(
    session: AsyncSession, rule_id: uuid.UUID, version: int
) -> TagRuleVersionOut:
    """One version of a rule; NotFound for an unknown rule or version."""
    await get_rule(session, rule_id)
    found = await repository.get_version(session, rule_id, version)
    if found is None:
        raise NotFound(f"Tag rule {rule_id} has no version {version}.")
    return TagRuleVersionOut.model_validate(found)
