"""Response bodies built from stored concepts, with every lookup batched per page."""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.models import Concept, ConceptLabel, ConceptScheme
from syncbridge.taxonomy import repository
from syncbridge.taxonomy.schemas import ConceptNode, ConceptOut, ConceptTree, SchemeOut


async def scheme_views(session: AsyncSession, schemes: list[ConceptScheme]) -> list[SchemeOut]:
    counts = await repository.concept_counts(session, [s.id for s in schemes])
    return [
        SchemeOut(
            key=s.key,
            title=s.title,
            description=s.description,
            concept_count=counts.get(s.id, 0),
            created_at=s.created_at,
            updated_at=s.updated_at,
        )
        for s in schemes
    ]


def _labels(labels: list[ConceptLabel]) -> tuple[dict[str, str], dict[str, list[str]]]:
    pref = {lb.lang: lb.text for lb in labels if lb.kind == "pref"}
    alt: dict[str, list[str]] = defaultdict(list)
    for label in labels:
        if label.kind == "alt":
            alt[label.lang].append(label.text)
    return dict(sorted(pref.items())), dict(sorted(alt.items()))


async def concept_views(session: AsyncSession, concepts: list[Concept]) -> list[ConceptOut]:
    """Concepts with labels, broader and narrower keys, in a fixed number of queries."""
    ids = [c.id for c in concepts]
    labels = await repository.labels_of(session, ids)
    broader = await repository.broader_keys(session, ids)
    narrower = await repository.narrower_keys(session, ids)
    replaced = await repository.keys_of(
        session, {c.replaced_by_id for c in concepts if c.replaced_by_id}
    )
    scheme_keys = dict((await session.execute(select(ConceptScheme.id, ConceptScheme.key))).all())
    views = []
    for c in concepts:
        pref, alt = _labels(labels.get(c.id, []))
        views.append(
            ConceptOut(
                key=c.key,
                scheme=scheme_keys[c.scheme_id],
                pref_label=pref,
                alt_labels=alt,
                definition=c.definition,
                broader=broader.get(c.id, []),
                narrower=narrower.get(c.id, []),
                status=c.status,
                replaced_by=replaced.get(c.replaced_by_id) if c.replaced_by_id else None,
                revision=c.revision,
                created_at=c.created_at,
                updated_at=c.updated_at,
            )
        )
    return views


async def concept_view(session: AsyncSession, concept: Concept) -> ConceptOut:
    await session.refresh(concept)
    return (await concept_views(session, [concept]))[0]


async def concept_tree(
    session: AsyncSession, scheme: ConceptScheme, status: str | None = None
) -> ConceptTree:
    """The scheme's hierarchy. A concept whose broaders all lie outside the scheme (or are
    filtered out) is a top concept; one with two broaders appears under both."""
    stmt = repository.concepts_query(scheme_id=scheme.id, status=status)
    concepts = list((await session.execute(stmt)).scalars())
    by_id = {c.id: c for c in concepts}
    labels = await repository.labels_of(session, list(by_id))
    children: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    has_parent: set[uuid.UUID] = set()
    for concept_id, broader_id in await repository.broader_edges(session, list(by_id)):
        if broader_id in by_id:
            children[broader_id].append(concept_id)
            has_parent.add(concept_id)

    def node(concept_id: uuid.UUID, path: frozenset[uuid.UUID]) -> ConceptNode:
        concept = by_id[concept_id]
        pref, alt = _labels(labels.get(concept_id, []))
        below = sorted(
            (k for k in children.get(concept_id, []) if k not in path),
            key=lambda k: by_id[k].key,
        )
        return ConceptNode(
            key=concept.key,
            pref_label=pref,
            alt_labels=alt,
            status=concept.status,
            narrower=[node(k, path | {k}) for k in below],
        )

    roots = [c.id for c in concepts if c.id not in has_parent]
    return ConceptTree(scheme=scheme.key, items=[node(r, frozenset({r})) for r in roots])
