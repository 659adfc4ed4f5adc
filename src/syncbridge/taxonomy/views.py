"""What the taxonomy endpoints answer: each endpoint makes one call here, which runs the
service and builds the response body, with every lookup batched per page."""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.audit import repository as audit_repository
from syncbridge.errors import InvalidInput
from syncbridge.models import Concept, ConceptLabel, ConceptScheme
from syncbridge.offload import run_cpu
from syncbridge.store.paging import Page, PageParams, fetch_page
from syncbridge.store.preconditions import Precondition
from syncbridge.taxonomy import repository, service, transfer, writes
from syncbridge.taxonomy.formats.sources import TaxonomyFormat, parse, render
from syncbridge.taxonomy.read_model import ConceptFilter, ConceptReadModel
from syncbridge.taxonomy.schemas import (
    ConceptChange,
    ConceptIn,
    ConceptNode,
    ConceptOut,
    ConceptPatch,
    ConceptTree,
    DeprecationOut,
    ImportCounts,
    ImportReport,
    MovedRule,
    SchemeIn,
    SchemeOut,
    SchemePatch,
)

# --- schemes ---------------------------------------------------------------------------


async def scheme_views(session: AsyncSession, schemes: list[ConceptScheme]) -> list[SchemeOut]:
    counts = await repository.concept_counts(session, [s.id for s in schemes])
    return [
        SchemeOut(
            key=s.key,
            title=s.title,
            description=s.description,
            concept_count=counts.get(s.id, 0),
            revision=s.revision,
            created_at=s.created_at,
            updated_at=s.updated_at,
        )
        for s in schemes
    ]


async def list_schemes(session: AsyncSession, paging: PageParams) -> Page[SchemeOut]:
    rows, total = await fetch_page(session, repository.schemes_query(), paging)
    return Page.of(await scheme_views(session, rows), total, paging)


async def show_scheme(session: AsyncSession, key: str) -> SchemeOut:
    return (await scheme_views(session, [await service.get_scheme(session, key)]))[0]


async def create_scheme(session: AsyncSession, body: SchemeIn, actor: str) -> SchemeOut:
    return (await scheme_views(session, [await service.create_scheme(session, body, actor)]))[0]


async def update_scheme(
    session: AsyncSession, key: str, body: SchemePatch, actor: str, expect: Precondition
) -> SchemeOut:
    scheme = await service.update_scheme(session, key, body, actor, expect)
    return (await scheme_views(session, [scheme]))[0]


# --- concepts --------------------------------------------------------------------------


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
    scheme_keys = await repository.scheme_keys_by_id(session)
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


async def show_concept(session: AsyncSession, key: str) -> ConceptOut:
    return await concept_view(session, await service.get_concept(session, key))


async def create_concept(session: AsyncSession, body: ConceptIn, actor: str) -> ConceptOut:
    return await concept_view(session, await service.create_concept(session, body, actor))


async def update_concept(
    session: AsyncSession, key: str, body: ConceptPatch, actor: str, expect: Precondition
) -> ConceptOut:
    concept = await service.update_concept(session, key, body, actor, expect)
    return await concept_view(session, concept)


async def deprecate_concept(
    session: AsyncSession, key: str, replacement: str | None, actor: str, expect: Precondition
) -> DeprecationOut:
    concept, moved = await service.deprecate_concept(session, key, replacement, actor, expect)
    return DeprecationOut(
        concept=await concept_view(session, concept),
        moved_rules=[MovedRule(id=str(r.id), name=r.name) for r in moved],
    )


async def concept_history(
    session: AsyncSession, key: str, paging: PageParams
) -> Page[ConceptChange]:
    """Every change of a concept, newest first."""
    concept = await service.get_concept(session, key)
    stmt = audit_repository.audit_query(entity_type=writes.CONCEPT, entity_id=str(concept.id))
    rows, total = await fetch_page(session, stmt, paging)
    items = [
        ConceptChange(
            id=r.id, at=r.at, actor=r.actor, action=r.action, before=r.before, after=r.after
        )
        for r in rows
    ]
    return Page.of(items, total, paging)


async def concept_page_json(
    session: AsyncSession, model: ConceptReadModel, flt: ConceptFilter, paging: PageParams
) -> bytes:
    """One page of concepts as JSON; NotFound for an unknown scheme."""
    if flt.scheme is not None:
        await service.get_scheme(session, flt.scheme)
    return await model.page_json(session, flt, paging)


async def concept_tree(
    session: AsyncSession, scheme_key: str | None, status: str | None = None
) -> ConceptTree:
    """The scheme's hierarchy. A concept whose broaders all lie outside the scheme (or are
    filtered out) is a top concept; one with two broaders appears under both."""
    if scheme_key is None:
        raise InvalidInput(
            "tree=true needs a scheme",
            errors=[{"field": "scheme", "reason": "required when tree=true"}],
        )
    scheme = await service.get_scheme(session, scheme_key)
    stmt = repository.concepts_query(scheme_id=scheme.id, status=status)
    concepts = await repository.concepts(session, stmt)
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


# --- import / export -------------------------------------------------------------------


async def import_document(
    session: AsyncSession, raw: bytes, fmt: TaxonomyFormat, *, actor: str, dry_run: bool
) -> ImportReport:
    """Parse (off the event loop) and import a YAML or Turtle document; see
    :func:`transfer.import_taxonomy`."""
    incoming = await run_cpu(parse, raw, fmt)
    result = await transfer.import_taxonomy(session, incoming, actor=actor, dry_run=dry_run)
    return import_report(result)


def import_report(result: transfer.ImportResult) -> ImportReport:
    """The API and CLI report of an import."""
    plan = result.plan
    return ImportReport(
        dry_run=result.dry_run,
        schemes=ImportCounts(
            created=len(plan.schemes_created),
            updated=len(plan.schemes_updated),
            unchanged=len(plan.schemes_unchanged),
        ),
        concepts=ImportCounts(
            created=len(plan.concepts_created),
            updated=len(plan.concepts_updated),
            unchanged=len(plan.concepts_unchanged),
        ),
        created=plan.concepts_created,
        updated=plan.concepts_updated,
        moved_rules=[MovedRule(id=str(r.id), name=r.name) for r in result.moved_rules],
    )


async def export_document(session: AsyncSession, fmt: TaxonomyFormat, scheme: str | None) -> str:
    """The taxonomy (or one scheme) rendered as ``fmt``."""
    taxonomy = await transfer.export_taxonomy(session, scheme)
    return await run_cpu(render, taxonomy, fmt)
