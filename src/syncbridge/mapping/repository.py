"""Mapping rule queries, and building the pure evaluation views from ORM rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.mapping.comparison import normalise
from syncbridge.mapping.views import ConceptView, RuleView, TaxonomyView
from syncbridge.models import (
    Concept,
    ConceptLabel,
    ConceptScheme,
    Connection,
    MappingRule,
    MappingRuleVersion,
)


def rules_query(
    *,
    connector_key: str | None = None,
    stream: str | None = None,
    concept_id: uuid.UUID | None = None,
    enabled: bool | None = None,
    include_archived: bool = False,
) -> Select[MappingRule]:
    """Rules filtered as the list endpoint allows; archived ones only on request."""
    stmt = select(MappingRule)
    if connector_key is not None:
        stmt = stmt.where(MappingRule.connector_key == connector_key)
    if stream is not None:
        stmt = stmt.where(MappingRule.stream == stream)
    if concept_id is not None:
        stmt = stmt.where(MappingRule.concept_id == concept_id)
    if enabled is not None:
        stmt = stmt.where(MappingRule.enabled == enabled)
    if not include_archived:
        stmt = stmt.where(MappingRule.archived_at.is_(None))
    return stmt


def listing_order(stmt: Select[MappingRule]) -> Select[MappingRule]:
    """Highest priority first, then oldest first."""
    return stmt.order_by(MappingRule.priority.desc(), MappingRule.created_at, MappingRule.id)


async def get_rule(
    session: AsyncSession, rule_id: uuid.UUID, *, for_update: bool = False
) -> MappingRule | None:
    """One rule; ``for_update`` locks its row (PostgreSQL) so concurrent edits queue up."""
    if not for_update:
        return await session.get(MappingRule, rule_id)
    stmt = select(MappingRule).where(MappingRule.id == rule_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def rules_using_concept(
    session: AsyncSession, concept_id: uuid.UUID, *, for_update: bool = False
) -> list[MappingRule]:
    """Non-archived rules whose target is ``concept_id``, oldest first."""
    stmt = rules_query(concept_id=concept_id).order_by(MappingRule.created_at, MappingRule.id)
    if for_update:
        stmt = stmt.with_for_update()
    return list((await session.execute(stmt)).scalars())


def versions_query(rule_id: uuid.UUID) -> Select[MappingRuleVersion]:
    """A rule's versions, oldest first."""
    return (
        select(MappingRuleVersion)
        .where(MappingRuleVersion.rule_id == rule_id)
        .order_by(MappingRuleVersion.version)
    )


async def get_version(
    session: AsyncSession, rule_id: uuid.UUID, version: int
) -> MappingRuleVersion | None:
    stmt = select(MappingRuleVersion).where(
        MappingRuleVersion.rule_id == rule_id, MappingRuleVersion.version == version
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def connection_exists(session: AsyncSession, connection_id: uuid.UUID) -> bool:
    stmt = select(Connection.id).where(Connection.id == connection_id)
    return (await session.execute(stmt)).first() is not None


async def rules_of_connection(session: AsyncSession, connection_id: uuid.UUID) -> list[MappingRule]:
    """Live (non-archived) rules scoped to ``connection_id``, by name."""
    stmt = rules_query().where(MappingRule.connection_id == connection_id)
    return list((await session.execute(stmt.order_by(MappingRule.name))).scalars())


async def concept_by_key(session: AsyncSession, key: str) -> Concept | None:
    stmt = select(Concept).where(Concept.key == key)
    return (await session.execute(stmt)).scalar_one_or_none()


async def concepts_by_id(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Concept]:
    if not ids:
        return {}
    stmt = select(Concept).where(Concept.id.in_(set(ids)))
    return {c.id: c for c in (await session.execute(stmt)).scalars()}


async def all_concepts(session: AsyncSession) -> list[Concept]:
    return list((await session.execute(select(Concept))).scalars())


async def all_labels(session: AsyncSession) -> list[ConceptLabel]:
    return list((await session.execute(select(ConceptLabel))).scalars())


async def scheme_keys(session: AsyncSession) -> dict[uuid.UUID, str]:
    rows = await session.execute(select(ConceptScheme.id, ConceptScheme.key))
    return {row[0]: row[1] for row in rows}


async def active_rules(session: AsyncSession, connector_key: str) -> list[MappingRule]:
    """Enabled, non-archived rules of one connector (scope is narrowed further in evaluation)."""
    stmt = rules_query(connector_key=connector_key, enabled=True)
    return list((await session.execute(stmt)).scalars())


def rule_view(rule: MappingRule) -> RuleView:
    """The evaluation view of a saved rule."""
    return RuleView(
        id=str(rule.id),
        version=rule.version,
        connector_key=rule.connector_key,
        connection_id=rule.connection_id,
        stream=rule.stream,
        field_path=rule.field_path,
        operator=rule.operator,
        values=tuple(rule.values or ()),
        case_sensitive=rule.case_sensitive,
        match_labels=rule.match_labels,
        concept_id=rule.concept_id,
        priority=rule.priority,
        enabled=rule.enabled,
    )


async def load_rule_views(session: AsyncSession, connector_key: str) -> list[RuleView]:
    """Enabled, non-archived rules of one connector, ready for :class:`RuleSet.compile`."""
    return [rule_view(rule) for rule in await active_rules(session, connector_key)]


async def load_taxonomy_view(session: AsyncSession) -> TaxonomyView:
    """Every concept with its normalised labels, English preferred label and scheme key."""
    schemes = await scheme_keys(session)
    labels: dict[uuid.UUID, set[str]] = {}
    prefs: dict[uuid.UUID, dict[str, str]] = {}
    for label in await all_labels(session):
        labels.setdefault(label.concept_id, set()).add(normalise(label.text, False))
        if label.kind == "pref":
            prefs.setdefault(label.concept_id, {})[label.lang] = label.text
    concepts = []
    for concept in await all_concepts(session):
        pref = prefs.get(concept.id, {})
        concepts.append(
            ConceptView(
                id=concept.id,
                key=concept.key,
                status=concept.status,
                replaced_by=concept.replaced_by_id,
                labels=frozenset(labels.get(concept.id, ())),
                pref_label=pref.get("en") or next(iter(sorted(pref.items())), ("", None))[1],
                scheme_key=schemes.get(concept.scheme_id),
            )
        )
    return TaxonomyView.of(concepts)


async def rules_referencing(session: AsyncSession, concept_id: uuid.UUID) -> list[MappingRule]:
    """Every rule, archived or not, whose current or past version targets the concept."""
    in_versions = select(MappingRuleVersion.rule_id).where(
        MappingRuleVersion.concept_id == concept_id
    )
    rows = await session.execute(
        select(MappingRule)
        .where(or_(MappingRule.concept_id == concept_id, MappingRule.id.in_(in_versions)))
        .order_by(MappingRule.name)
    )
    return list(rows.scalars())
