"""Taxonomy queries: schemes and concepts by key, label search, and the store as values."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from syncbridge.models import (
    Concept,
    ConceptBroader,
    ConceptLabel,
    ConceptScheme,
)
from syncbridge.taxonomy.document import ConceptData, SchemeData, Taxonomy
from syncbridge.taxonomy.validation import normalise_label


async def scheme_by_key(session: AsyncSession, key: str) -> ConceptScheme | None:
    return (
        await session.execute(select(ConceptScheme).where(ConceptScheme.key == key))
    ).scalar_one_or_none()


async def concept_by_key(session: AsyncSession, key: str) -> Concept | None:
    return (await session.execute(select(Concept).where(Concept.key == key))).scalar_one_or_none()


async def ids_by_key(session: AsyncSession) -> dict[str, uuid.UUID]:
    """Every concept id by key."""
    rows = await session.execute(select(Concept.key, Concept.id))
    return dict(rows.all())


async def scheme_ids_by_key(session: AsyncSession) -> dict[str, uuid.UUID]:
    rows = await session.execute(select(ConceptScheme.key, ConceptScheme.id))
    return dict(rows.all())


async def count_schemes(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count(ConceptScheme.id)))).scalar_one())


def schemes_query() -> Select[ConceptScheme]:
    return select(ConceptScheme).order_by(ConceptScheme.key)


async def concept_counts(
    session: AsyncSession, scheme_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, int]:
    rows = await session.execute(
        select(Concept.scheme_id, func.count(Concept.id))
        .where(Concept.scheme_id.in_(scheme_ids))
        .group_by(Concept.scheme_id)
    )
    return {scheme_id: int(n) for scheme_id, n in rows}


def concepts_query(
    *, scheme_id: uuid.UUID | None = None, status: str | None = None, q: str | None = None
) -> Select[Concept]:
    """Concepts by key; ``q`` matches any label (case-insensitive substring) or the key."""
    stmt = select(Concept).order_by(Concept.key)
    if scheme_id is not None:
        stmt = stmt.where(Concept.scheme_id == scheme_id)
    if status is not None:
        stmt = stmt.where(Concept.status == status)
    if q:
        needle = normalise_label(q)
        label_hit = exists().where(
            ConceptLabel.concept_id == Concept.id,
            ConceptLabel.norm.contains(needle, autoescape=True),
        )
        stmt = stmt.where(or_(label_hit, Concept.key.contains(q.strip().lower(), autoescape=True)))
    return stmt


async def labels_of(
    session: AsyncSession, concept_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[ConceptLabel]]:
    rows = await session.execute(
        select(ConceptLabel)
        .where(ConceptLabel.concept_id.in_(concept_ids))
        .order_by(ConceptLabel.lang, ConceptLabel.text)
    )
    out: dict[uuid.UUID, list[ConceptLabel]] = defaultdict(list)
    for label in rows.scalars():
        out[label.concept_id].append(label)
    return out


async def _linked_keys(
    session: AsyncSession,
    concept_ids: Collection[uuid.UUID],
    *,
    side: InstrumentedAttribute[uuid.UUID],
    other: InstrumentedAttribute[uuid.UUID],
) -> dict[uuid.UUID, list[str]]:
    """For each concept on ``side`` of a broader link, the keys of the concepts on ``other``."""
    rows = await session.execute(
        select(side, Concept.key)
        .join(Concept, Concept.id == other)
        .where(side.in_(concept_ids))
        .order_by(Concept.key)
    )
    out: dict[uuid.UUID, list[str]] = defaultdict(list)
    for concept_id, key in rows:
        out[concept_id].append(key)
    return out


async def broader_keys(
    session: AsyncSession, concept_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """The broader concepts' keys of each concept."""
    return await _linked_keys(
        session, concept_ids, side=ConceptBroader.concept_id, other=ConceptBroader.broader_id
    )


async def narrower_keys(
    session: AsyncSession, concept_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """The narrower concepts' keys of each concept."""
    return await _linked_keys(
        session, concept_ids, side=ConceptBroader.broader_id, other=ConceptBroader.concept_id
    )


async def keys_of(session: AsyncSession, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await session.execute(select(Concept.id, Concept.key).where(Concept.id.in_(ids)))
    return dict(rows.all())


async def replaced_concepts(session: AsyncSession, concept_id: uuid.UUID) -> list[Concept]:
    """Concepts whose replacement is ``concept_id``."""
    rows = await session.execute(select(Concept).where(Concept.replaced_by_id == concept_id))
    return list(rows.scalars())


async def load_taxonomy(session: AsyncSession) -> Taxonomy:
    """The whole store as plain values (a handful of queries, whatever its size)."""
    schemes = list((await session.execute(select(ConceptScheme))).scalars())
    scheme_keys = {s.id: s.key for s in schemes}
    concepts = list((await session.execute(select(Concept))).scalars())
    keys = {c.id: c.key for c in concepts}
    labels: dict[uuid.UUID, list[ConceptLabel]] = defaultdict(list)
    for label in (await session.execute(select(ConceptLabel))).scalars():
        labels[label.concept_id].append(label)
    broader: dict[uuid.UUID, list[str]] = defaultdict(list)
    for concept_id, broader_id in await session.execute(
        select(ConceptBroader.concept_id, ConceptBroader.broader_id)
    ):
        broader[concept_id].append(keys[broader_id])
    return Taxonomy(
        schemes={
            s.key: SchemeData(key=s.key, title=s.title, description=s.description) for s in schemes
        },
        concepts={
            c.key: to_data(c, scheme_keys[c.scheme_id], labels[c.id], broader[c.id], keys)
            for c in concepts
        },
    )


def to_data(
    concept: Concept,
    scheme_key: str,
    labels: list[ConceptLabel],
    broader: list[str],
    keys: dict[uuid.UUID, str],
) -> ConceptData:
    """A stored concept as a plain value."""
    alt: dict[str, list[str]] = defaultdict(list)
    for label in labels:
        if label.kind == "alt":
            alt[label.lang].append(label.text)
    return ConceptData.build(
        key=concept.key,
        scheme=scheme_key,
        pref_label={lb.lang: lb.text for lb in labels if lb.kind == "pref"},
        alt_labels=alt,
        definition=concept.definition,
        broader=broader,
        status=concept.status,
        replaced_by=keys.get(concept.replaced_by_id) if concept.replaced_by_id else None,
    )


async def concept_data(session: AsyncSession, concept: Concept) -> ConceptData:
    """One stored concept as a plain value."""
    scheme = await session.get_one(ConceptScheme, concept.scheme_id)
    labels = (await labels_of(session, [concept.id])).get(concept.id, [])
    broader = (await broader_keys(session, [concept.id])).get(concept.id, [])
    replaced = [concept.replaced_by_id] if concept.replaced_by_id else []
    return to_data(concept, scheme.key, labels, broader, await keys_of(session, replaced))


async def broader_edges(
    session: AsyncSession, concept_ids: Collection[uuid.UUID]
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(concept, broader) id pairs for the given concepts."""
    rows = await session.execute(
        select(ConceptBroader.concept_id, ConceptBroader.broader_id).where(
            ConceptBroader.concept_id.in_(concept_ids)
        )
    )
    return list(rows.all())


# --- lean reads for the concept read model: columns, not ORM objects -------------------


async def concept_rows(session: AsyncSession) -> list[Any]:
    """Every concept's columns, by key."""
    stmt = select(
        Concept.id,
        Concept.key,
        Concept.scheme_id,
        Concept.status,
        Concept.definition,
        Concept.replaced_by_id,
        Concept.revision,
        Concept.created_at,
        Concept.updated_at,
    ).order_by(Concept.key)
    return list((await session.execute(stmt)).all())


async def label_rows(session: AsyncSession) -> list[Any]:
    """Every label as (concept id, kind, lang, text, norm), by language and text."""
    stmt = select(
        ConceptLabel.concept_id,
        ConceptLabel.kind,
        ConceptLabel.lang,
        ConceptLabel.text,
        ConceptLabel.norm,
    ).order_by(ConceptLabel.lang, ConceptLabel.text)
    return list((await session.execute(stmt)).all())


async def all_broader_edges(session: AsyncSession) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Every (concept, broader) id pair."""
    rows = await session.execute(select(ConceptBroader.concept_id, ConceptBroader.broader_id))
    return [(a, b) for a, b in rows.all()]


async def scheme_keys_by_id(session: AsyncSession) -> dict[uuid.UUID, str]:
    rows = await session.execute(select(ConceptScheme.id, ConceptScheme.key))
    return dict(rows.all())


async def delete_labels_and_broader(
    session: AsyncSession, concept_ids: Collection[uuid.UUID]
) -> None:
    """Remove the labels and broader links of the given concepts."""
    await session.execute(delete(ConceptLabel).where(ConceptLabel.concept_id.in_(concept_ids)))
    await session.execute(delete(ConceptBroader).where(ConceptBroader.concept_id.in_(concept_ids)))


async def concepts_by_keys(session: AsyncSession, keys: Collection[str]) -> list[Concept]:
    """The concepts with the given keys, by key."""
    stmt = select(Concept).where(Concept.key.in_(keys)).order_by(Concept.key)
    return list((await session.execute(stmt)).scalars())


async def concepts(session: AsyncSession, stmt: Select[Concept]) -> list[Concept]:
    """The concepts ``stmt`` selects."""
    return list((await session.execute(stmt)).scalars())
