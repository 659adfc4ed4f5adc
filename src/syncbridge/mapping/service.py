"""Mapping rule writes: create, edit (one new version per change), archive, retarget.

Every write appends an immutable :class:`MappingRuleVersion` when the rule's content changes
and records an audit entry in the same transaction. Services only ``flush()``; the caller
(the request handler, or the taxonomy service) owns the commit.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.audit.service import record
from syncbridge.classification import triggers
from syncbridge.errors import Conflict, InvalidInput, NotFound
from syncbridge.mapping import repository
from syncbridge.mapping.rule_validation import rule_errors
from syncbridge.mapping.schemas import RuleCreate, RuleOut, RulePatch, RuleVersionOut
from syncbridge.models import Concept, ConceptStatus, MappingRule, MappingRuleVersion, utcnow
from syncbridge.store import revisions
from syncbridge.store.paging import Page, PageParams, fetch_page
from syncbridge.store.preconditions import UNCONDITIONAL, Precondition

ENTITY_TYPE = "mapping_rule"

#: Columns shared by a rule and its versions: the content a version freezes.
CONTENT_FIELDS = (
    "name",
    "connector_key",
    "connection_id",
    "stream",
    "field_path",
    "operator",
    "values",
    "case_sensitive",
    "match_labels",
    "concept_id",
    "priority",
    "enabled",
)

#: Fields a PATCH may set to null.
NULLABLE_FIELDS = frozenset({"connection_id", "stream"})

__all__ = [
    "CONTENT_FIELDS",
    "ENTITY_TYPE",
    "append_version",
    "archive_rule",
    "check_rule",
    "create_rule",
    "get_rule",
    "get_version",
    "list_versions",
    "resolve_concept",
    "retarget_rules",
    "rule_outs",
    "rules_referencing",
    "rules_using_concept",
    "snapshot",
    "update_rule",
]


def snapshot(rule: MappingRule) -> dict[str, Any]:
    """A JSON-safe picture of a rule, for audit entries."""
    data: dict[str, Any] = {field: getattr(rule, field) for field in CONTENT_FIELDS}
    for field in ("connection_id", "concept_id"):
        if data[field] is not None:
            data[field] = str(data[field])
    data["values"] = list(rule.values or [])
    data["id"] = str(rule.id)
    data["version"] = rule.version
    data["revision"] = rule.revision
    data["archived_at"] = rule.archived_at.isoformat() if rule.archived_at else None
    return data


async def append_version(session: AsyncSession, rule: MappingRule, actor: str) -> None:
    """Freeze the rule's current content as version ``rule.version``."""
    content = {field: getattr(rule, field) for field in CONTENT_FIELDS}
    content["values"] = list(rule.values or [])
    session.add(
        MappingRuleVersion(rule_id=rule.id, version=rule.version, created_by=actor, **content)
    )
    await session.flush()


async def rules_using_concept(session: AsyncSession, concept_id: uuid.UUID) -> list[MappingRule]:
    """Non-archived rules that target ``concept_id`` (for "concept in use" checks)."""
    return await repository.rules_using_concept(session, concept_id)


async def rules_referencing(session: AsyncSession, concept_id: uuid.UUID) -> list[MappingRule]:
    """Every rule, archived or not, whose current or past version targets ``concept_id``."""
    return await repository.rules_referencing(session, concept_id)


async def retarget_rules(
    session: AsyncSession,
    *,
    from_concept_id: uuid.UUID,
    to_concept_id: uuid.UUID,
    actor: str,
) -> list[MappingRule]:
    """Point every non-archived rule targeting ``from_concept_id`` at ``to_concept_id``.

    Each moved rule gets a new version and an audit entry ("mapping_rule.retarget"). Flushes
    only; the caller commits. Does not check the target's status: the caller decides that.
    """
    if from_concept_id == to_concept_id:
        return []
    rules = await repository.rules_using_concept(session, from_concept_id, for_update=True)
    for rule in rules:
        before = snapshot(rule)
        rule.concept_id = to_concept_id
        await _save_version(session, rule, before, action="mapping_rule.retarget", actor=actor)
    return rules


async def _audit(
    session: AsyncSession,
    rule: MappingRule,
    *,
    action: str,
    actor: str,
    before: dict[str, Any] | None = None,
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


async def _save_version(
    session: AsyncSession, rule: MappingRule, before: dict[str, Any], *, action: str, actor: str
) -> None:
    """Make the rule's changed content a new version, frozen and audited."""
    rule.version += 1
    rule.revision += 1
    rule.updated_at = utcnow()
    await append_version(session, rule, actor)
    await _audit(session, rule, action=action, actor=actor, before=before)


async def get_rule(
    session: AsyncSession, rule_id: uuid.UUID, *, for_update: bool = False
) -> MappingRule:
    """The rule (archived ones too); raises NotFound."""
    rule = await repository.get_rule(session, rule_id, for_update=for_update)
    if rule is None:
        raise NotFound(f"No mapping rule {rule_id}.")
    return rule


async def list_versions(
    session: AsyncSession, rule_id: uuid.UUID, paging: PageParams
) -> tuple[list[MappingRuleVersion], int]:
    """One page of a rule's versions, oldest first; raises NotFound for an unknown rule."""
    await get_rule(session, rule_id)
    return await fetch_page(session, repository.versions_query(rule_id), paging)


async def get_version(
    session: AsyncSession, rule_id: uuid.UUID, version: int
) -> MappingRuleVersion:
    """One version of a rule; raises NotFound for an unknown rule or version."""
    await get_rule(session, rule_id)
    found = await repository.get_version(session, rule_id, version)
    if found is None:
        raise NotFound(f"Mapping rule {rule_id} has no version {version}.")
    return found


async def resolve_concept(session: AsyncSession, key: str, *, field: str = "concept") -> Concept:
    """The concept a rule may target: unknown -> InvalidInput, deprecated -> Conflict."""
    concept = await repository.concept_by_key(session, key)
    if concept is None:
        raise InvalidInput(
            f"No concept with key {key!r}.",
            errors=[{"field": field, "reason": f"no concept with key {key!r}"}],
        )
    if concept.status == ConceptStatus.deprecated.value:
        replacement = None
        if concept.replaced_by_id is not None:
            found = await repository.concepts_by_id(session, [concept.replaced_by_id])
            replacement = found[concept.replaced_by_id].key if found else None
        raise Conflict(
            f"Concept {key!r} is deprecated; target its replacement instead.",
            errors=[{"field": field, "reason": "the concept is deprecated"}],
            extra={"replaced_by": replacement},
        )
    return concept


async def check_connection(
    session: AsyncSession, connection_id: uuid.UUID | None, *, field: str = "connection_id"
) -> None:
    """A rule may be scoped to an existing connection only (InvalidInput otherwise)."""
    if connection_id is not None and not await repository.connection_exists(session, connection_id):
        raise InvalidInput(
            f"No connection {connection_id}.",
            errors=[{"field": field, "reason": "no such connection"}],
        )


async def rules_of_connection(session: AsyncSession, connection_id: uuid.UUID) -> list[MappingRule]:
    """Live rules scoped to ``connection_id`` (for "connection in use" checks)."""
    return await repository.rules_of_connection(session, connection_id)


def check_rule(content: dict[str, Any], *, prefix: str = "") -> None:
    """Raise InvalidInput with every field-level reason the rule content is invalid."""
    errors = rule_errors(
        field_path=content["field_path"],
        operator=content["operator"],
        values=content["values"],
        match_labels=content["match_labels"],
        prefix=prefix,
    )
    if errors:
        raise InvalidInput("The mapping rule is not valid.", errors=errors)


def default_name(body: RuleCreate) -> str:
    """A readable name for a rule created without one."""
    scope = body.connector_key + (f":{body.stream}" if body.stream else "")
    return f"{scope} {body.field_path} {body.operator} -> {body.concept}"[:200]


async def create_rule(session: AsyncSession, body: RuleCreate, actor: str) -> MappingRule:
    """Save a new rule as version 1; audited. Raises InvalidInput or Conflict."""
    content = body.model_dump(exclude={"concept"})
    check_rule(content)
    await revisions.lock_for_write(session, revisions.CATALOG)
    await check_connection(session, body.connection_id)
    concept = await resolve_concept(session, body.concept)
    content["name"] = body.name or default_name(body)
    rule = MappingRule(**content, concept_id=concept.id, version=1, revision=1)
    session.add(rule)
    await session.flush()
    await append_version(session, rule, actor)
    await _audit(session, rule, action="mapping_rule.create", actor=actor)
    if rule.enabled:
        await triggers.rule_changed(
            session, rule.id, cause="mapping_rule.create", actor=actor, scopes=[snapshot(rule)]
        )
    return rule


async def update_rule(
    session: AsyncSession,
    rule_id: uuid.UUID,
    patch: RulePatch,
    actor: str,
    expect: Precondition = UNCONDITIONAL,
) -> MappingRule:
    """Apply a patch; a real change bumps the version, appends a snapshot and is audited.

    A patch that changes nothing writes nothing. Raises NotFound, Conflict (archived rule,
    deprecated target) or InvalidInput.
    """
    await revisions.lock_for_write(session, revisions.CATALOG)
    rule = await get_rule(session, rule_id, for_update=True)
    if rule.archived_at is not None:
        raise Conflict(f"Mapping rule {rule_id} is archived and cannot be edited.")
    changes = await _patch_changes(session, rule, patch)
    expect.check(rule.revision, f"Mapping rule {rule_id}")
    if not changes:
        return rule
    before = snapshot(rule)
    for field, value in changes.items():
        setattr(rule, field, value)
    await _save_version(session, rule, before, action="mapping_rule.update", actor=actor)
    if set(changes) != {"name"}:
        # A disabled rule can only lose what it classified; a live one may reach any asset
        # of its old or new scope.
        scopes = [before, snapshot(rule)] if rule.enabled else []
        await triggers.rule_changed(
            session, rule.id, cause="mapping_rule.update", actor=actor, scopes=scopes
        )
    return rule


async def _patch_changes(
    session: AsyncSession, rule: MappingRule, patch: RulePatch
) -> dict[str, Any]:
    given = patch.model_dump(include=patch.model_fields_set)
    nulls = [f for f, v in given.items() if v is None and f not in NULLABLE_FIELDS]
    if nulls:
        raise InvalidInput(
            "These fields cannot be null.",
            errors=[{"field": f, "reason": "must not be null"} for f in sorted(nulls)],
        )
    concept_key = given.pop("concept", None)
    merged = {field: getattr(rule, field) for field in CONTENT_FIELDS} | given
    check_rule(merged)
    if "connection_id" in given:
        await check_connection(session, given["connection_id"])
    if concept_key is not None:
        current = await repository.concepts_by_id(session, [rule.concept_id])
        if rule.concept_id not in current or current[rule.concept_id].key != concept_key:
            merged["concept_id"] = (await resolve_concept(session, concept_key)).id
    return {f: merged[f] for f in CONTENT_FIELDS if not same_value(merged[f], getattr(rule, f))}


def same_value(new: Any, old: Any) -> bool:
    """Whether a field's new value equals its old one, as JSON: 1, 1.0 and True differ
    (``==`` would call them equal), so such an edit makes a new version."""
    return json.dumps(new, sort_keys=True, default=str) == json.dumps(
        old, sort_keys=True, default=str
    )


async def archive_rule(
    session: AsyncSession,
    rule_id: uuid.UUID,
    actor: str,
    expect: Precondition = UNCONDITIONAL,
) -> MappingRule:
    """Archive a rule (idempotent): it leaves evaluation and default lists; versions stay."""
    await revisions.lock_for_write(session, revisions.CATALOG)
    rule = await get_rule(session, rule_id, for_update=True)
    expect.check(rule.revision, f"Mapping rule {rule_id}")
    if rule.archived_at is not None:
        return rule
    before = snapshot(rule)
    rule.revision += 1
    rule.archived_at = utcnow()
    rule.updated_at = rule.archived_at
    await session.flush()
    await _audit(session, rule, action="mapping_rule.archive", actor=actor, before=before)
    await triggers.rule_changed(session, rule.id, cause="mapping_rule.archive", actor=actor)
    return rule


async def rule_outs(session: AsyncSession, rules: list[MappingRule]) -> list[RuleOut]:
    """Response bodies for rules, with their target concept keys."""
    concepts = await repository.concepts_by_id(session, [r.concept_id for r in rules])
    outs = []
    for rule in rules:
        out = RuleOut.model_validate(rule)
        concept = concepts.get(rule.concept_id)
        outs.append(out.model_copy(update={"concept": concept.key if concept else None}))
    return outs


# --- what the API answers: one call per endpoint ----------------------------------------


async def list_rules(
    session: AsyncSession,
    paging: PageParams,
    *,
    connector_key: str | None = None,
    stream: str | None = None,
    concept: str | None = None,
    enabled: bool | None = None,
    include_archived: bool = False,
) -> Page[RuleOut]:
    """Rules, highest priority first; an unknown concept key matches nothing."""
    concept_id = None
    if concept is not None:
        found = await repository.concept_by_key(session, concept)
        if found is None:
            return Page.of([], 0, paging)
        concept_id = found.id
    stmt = repository.rules_query(
        connector_key=connector_key,
        stream=stream,
        concept_id=concept_id,
        enabled=enabled,
        include_archived=include_archived,
    )
    rules, total = await fetch_page(session, repository.listing_order(stmt), paging)
    return Page.of(await rule_outs(session, rules), total, paging)


async def create(session: AsyncSession, body: RuleCreate, actor: str) -> RuleOut:
    """:func:`create_rule`, answered as the API shows a rule."""
    return (await rule_outs(session, [await create_rule(session, body, actor)]))[0]


async def show(session: AsyncSession, rule_id: uuid.UUID) -> RuleOut:
    """One rule as the API shows it (archived rules too); raises NotFound."""
    return (await rule_outs(session, [await get_rule(session, rule_id)]))[0]


async def update(
    session: AsyncSession, rule_id: uuid.UUID, patch: RulePatch, actor: str, expect: Precondition
) -> RuleOut:
    """:func:`update_rule`, answered as the API shows a rule."""
    rule = await update_rule(session, rule_id, patch, actor, expect)
    return (await rule_outs(session, [rule]))[0]


async def versions_page(
    session: AsyncSession, rule_id: uuid.UUID, paging: PageParams
) -> Page[RuleVersionOut]:
    """One page of a rule's versions, oldest first."""
    versions, total = await list_versions(session, rule_id, paging)
    return Page.of(await version_outs(session, versions), total, paging)


async def show_version(session: AsyncSession, rule_id: uuid.UUID, version: int) -> RuleVersionOut:
    """One version of a rule as the API shows it."""
    return (await version_outs(session, [await get_version(session, rule_id, version)]))[0]


async def version_outs(
    session: AsyncSession, versions: list[MappingRuleVersion]
) -> list[RuleVersionOut]:
    concepts = await repository.concepts_by_id(session, [v.concept_id for v in versions])
    outs = []
    for version in versions:
        concept = concepts.get(version.concept_id)
        out = RuleVersionOut.model_validate(version)
        outs.append(out.model_copy(update={"concept": concept.key if concept else None}))
    return outs
