"""Tag-rule queries, and the taxonomy and connection look-ups that validate a rule."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from syncbridge.models import Asset, Concept, ConceptScheme, Connection, DesiredTag
from syncbridge.models.tagging import TagRule, TagRuleVersion


def rules_query(*, enabled: bool | None = None, include_archived: bool = False) -> Select[TagRule]:
    """Rules filtered as the list endpoint allows, by name; archived ones only on request."""
    stmt = select(TagRule)
    if enabled is not None:
        stmt = stmt.where(TagRule.enabled == enabled)
    if not include_archived:
        stmt = stmt.where(TagRule.archived_at.is_(None))
    return stmt.order_by(TagRule.name, TagRule.id)


async def get_rule(
    session: AsyncSession, rule_id: uuid.UUID, *, for_update: bool = False
) -> TagRule | None:
    if not for_update:
        return await session.get(TagRule, rule_id)
    stmt = select(TagRule).where(TagRule.id == rule_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


def versions_query(rule_id: uuid.UUID) -> Select[TagRuleVersion]:
    return (
        select(TagRuleVersion)
        .where(TagRuleVersion.rule_id == rule_id)
        .order_by(TagRuleVersion.version)
    )


async def get_version(
    session: AsyncSession, rule_id: uuid.UUID, version: int
) -> TagRuleVersion | None:
    stmt = select(TagRuleVersion).where(
        TagRuleVersion.rule_id == rule_id, TagRuleVersion.version == version
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def default_keys(session: AsyncSession) -> set[str]:
    """The default-rule keys the store has ever loaded (archived rules included)."""
    rows = await session.execute(
        select(TagRule.default_key).where(TagRule.default_key.is_not(None))
    )
    return {str(key) for (key,) in rows}


# --- what a rule refers to -----------------------------------------------------------------


@dataclass(frozen=True)
class ConceptRef:
    """What validation needs of a concept a rule names."""

    scheme_key: str
    status: str
    replaced_by: str | None


async def scheme_keys(session: AsyncSession) -> set[str]:
    return set((await session.scalars(select(ConceptScheme.key))).all())


async def concepts_with_scheme(
    session: AsyncSession, keys: Collection[str]
) -> dict[str, ConceptRef]:
    """The concepts of ``keys`` that exist, with their scheme, status and replacement."""
    replacement = aliased(Concept)
    stmt = (
        select(Concept.key, ConceptScheme.key, Concept.status, replacement.key)
        .join(ConceptScheme, ConceptScheme.id == Concept.scheme_id)
        .outerjoin(replacement, replacement.id == Concept.replaced_by_id)
        .where(Concept.key.in_(sorted(set(keys))))
    )
    rows = await session.execute(stmt)
    return {str(k): ConceptRef(str(s), str(st), r) for k, s, st, r in rows}


async def connector_keys(
    session: AsyncSession, connection_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The connector key of each of these connections that exists."""
    if not connection_ids:
        return {}
    rows = await session.execute(
        select(Connection.id, Connection.connector_key).where(
            Connection.id.in_(sorted(set(connection_ids)))
        )
    )
    return {cid: str(key) for cid, key in rows}


# --- what a preview compares with ----------------------------------------------------------


async def desired_concepts(session: AsyncSession, rule_id: uuid.UUID) -> dict[uuid.UUID, str]:
    """The rule's stored desired tag of each asset."""
    rows = await session.execute(
        select(DesiredTag.asset_id, DesiredTag.concept).where(DesiredTag.rule_id == rule_id)
    )
    return {asset_id: str(concept) for asset_id, concept in rows}


async def asset_refs(
    session: AsyncSession, asset_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[uuid.UUID, str]]:
    """The connection and external id of each of these assets."""
    if not asset_ids:
        return {}
    rows = await session.execute(
        select(Asset.id, Asset.connection_id, Asset.external_id).where(
            Asset.id.in_(sorted(set(asset_ids)))
        )
    )
    return {asset_id: (connection_id, str(ext)) for asset_id, connection_id, ext in rows}


# --- who uses a concept --------------------------------------------------------------------


async def live_rules_emitting(session: AsyncSession, concept_key: str) -> list[TagRule]:
    """The enabled, live rules that give ``concept_key`` (as a tier or as their insufficient
    concept), by name. Rules are few: they are filtered here, not in SQL over JSON."""
    rules = await session.scalars(rules_query(enabled=True))
    return [
        rule
        for rule in rules
        if rule.insufficient_concept == concept_key
        or any(tier.get("concept") == concept_key for tier in rule.tiers)
    ]
