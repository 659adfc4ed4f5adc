"""Manual classifications: editors put assets on concepts and take them off, audited.

A manual classification stands beside any rule classification of the same concept; rules
never overwrite or remove it. Adding one that exists answers the existing one (nothing is
written twice). Services flush; the request commits.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.audit.service import record
from syncbridge.classification.schemas import (
    ClassificationChangeOut,
    ClassificationOut,
    ConceptRef,
    ManualClassificationIn,
    ProvenanceOut,
)
from syncbridge.errors import Conflict, NotFound
from syncbridge.mapping.compiled import CompiledCatalog
from syncbridge.mapping.views import TaxonomyView
from syncbridge.models import (
    Asset,
    Classification,
    ClassificationChange,
    Concept,
    ConceptStatus,
    utcnow,
)
from syncbridge.store.paging import Page, PageParams, fetch_page

__all__ = ["add_manual", "history_page", "list_page", "remove_manual"]

ENTITY_TYPE = "classification"


async def _asset(session: AsyncSession, asset_id: uuid.UUID, *, lock: bool = False) -> Asset:
    stmt = select(Asset).where(Asset.id == asset_id)
    if lock:
        # Queues up with the classifier of this asset (PostgreSQL; SQLite serialises writes).
        stmt = stmt.with_for_update()
    asset = (await session.execute(stmt)).scalar_one_or_none()
    if asset is None:
        raise NotFound(f"No asset {asset_id}.")
    return asset


async def _concept(session: AsyncSession, ref: str) -> Concept:
    """By key first, then by id (a key may look like an id; keys win)."""
    concept = (
        await session.execute(select(Concept).where(Concept.key == ref))
    ).scalar_one_or_none()
    if concept is None:
        try:
            concept = await session.get(Concept, uuid.UUID(ref))
        except ValueError:
            concept = None
    if concept is None:
        raise NotFound(f"No concept {ref!r}.", errors=[{"field": "concept", "reason": "unknown"}])
    return concept


def snapshot(row: Classification, concept_key: str) -> dict[str, Any]:
    """A JSON-safe picture of a manual classification, for audit entries."""
    return {
        "id": str(row.id),
        "asset_id": str(row.asset_id),
        "concept": concept_key,
        "concept_id": str(row.concept_id),
        "source": row.source,
        "note": row.note,
        "created_by": row.created_by,
    }


def out(row: Classification, taxonomy: TaxonomyView) -> ClassificationOut:
    view = taxonomy.concepts.get(row.concept_id)
    concept = ConceptRef(
        id=row.concept_id,
        key=view.key if view else str(row.concept_id),
        pref_label=view.pref_label if view else None,
        scheme=view.scheme_key if view else None,
        status=view.status if view else "unknown",
    )
    provenance = None
    if row.source == "rule":
        provenance = ProvenanceOut(
            rule_id=row.rule_id,
            rule_version=row.rule_version,
            record_id=row.record_id,
            field_path=row.field_path,
            value=row.value,
            run_id=row.run_id,
        )
    return ClassificationOut(
        id=row.id,
        asset_id=row.asset_id,
        concept=concept,
        source="rule" if row.source == "rule" else "manual",
        provenance=provenance,
        created_by=row.created_by,
        note=row.note,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _refuse_deprecated(session: AsyncSession, concept: Concept) -> None:
    if concept.status != ConceptStatus.deprecated.value:
        return
    replacement = None
    if concept.replaced_by_id is not None:
        found = await session.get(Concept, concept.replaced_by_id)
        replacement = found.key if found is not None else None
    instead = f"; classify with its replacement '{replacement}'" if replacement else ""
    raise Conflict(
        f"Concept '{concept.key}' is deprecated{instead}.",
        errors=[{"field": "concept", "reason": "the concept is deprecated"}],
        extra={"replaced_by": replacement},
    )


def _manual_of(asset_id: uuid.UUID, concept_id: uuid.UUID) -> Select[Classification]:
    return select(Classification).where(
        Classification.asset_id == asset_id,
        Classification.concept_id == concept_id,
        Classification.source == "manual",
    )


async def add_manual(
    session: AsyncSession,
    catalog: CompiledCatalog,
    asset_id: uuid.UUID,
    body: ManualClassificationIn,
    actor: str,
) -> tuple[ClassificationOut, bool]:
    """Put the asset on the concept by hand; ``(classification, created)``. Raises NotFound
    (asset, concept) and Conflict (deprecated concept, naming its replacement; deleted asset).
    """
    asset = await _asset(session, asset_id, lock=True)
    concept = await _concept(session, body.concept)
    await _refuse_deprecated(session, concept)
    if asset.deleted_at is not None:
        raise Conflict(f"Asset {asset_id} was deleted in its DAM.")
    taxonomy = await catalog.taxonomy(session)
    existing = (await session.execute(_manual_of(asset_id, concept.id))).scalar_one_or_none()
    if existing is not None:
        return out(existing, taxonomy), False
    now = utcnow()
    row = Classification(
        id=uuid.uuid4(),
        asset_id=asset_id,
        concept_id=concept.id,
        source="manual",
        created_by=actor,
        note=body.note,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    reason = f"added by {actor}" + (f": {body.note}" if body.note else "")
    _history(session, row, concept.key, "added", reason, actor)
    await record(
        session,
        actor=actor,
        action="classification.add",
        entity_type=ENTITY_TYPE,
        entity_id=row.id,
        after=snapshot(row, concept.key),
    )
    return out(row, taxonomy), True


def _history(
    session: AsyncSession, row: Classification, key: str, change: str, reason: str, actor: str
) -> None:
    session.add(
        ClassificationChange(
            asset_id=row.asset_id,
            concept_id=row.concept_id,
            concept_key=key,
            change=change,
            source="manual",
            reason=reason,
            actor=actor,
            at=utcnow(),
        )
    )


async def remove_manual(
    session: AsyncSession, asset_id: uuid.UUID, classification_id: uuid.UUID, actor: str
) -> None:
    """Take a manual classification off the asset. NotFound for an unknown asset or a
    classification of another asset; Conflict for a rule's (change or disable the rule)."""
    await _asset(session, asset_id, lock=True)
    row = await session.get(Classification, classification_id)
    if row is None or row.asset_id != asset_id:
        raise NotFound(f"Asset {asset_id} has no classification {classification_id}.")
    if row.source != "manual":
        raise Conflict(
            f"Classification {classification_id} comes from mapping rule {row.rule_id}; "
            "change or disable the rule to remove it.",
            extra={"rule_id": str(row.rule_id)},
        )
    concept = await session.get(Concept, row.concept_id)
    key = concept.key if concept is not None else str(row.concept_id)
    before = snapshot(row, key)
    await session.delete(row)
    await session.flush()
    _history(session, row, key, "removed", f"removed by {actor}", actor)
    await record(
        session,
        actor=actor,
        action="classification.remove",
        entity_type=ENTITY_TYPE,
        entity_id=classification_id,
        before=before,
    )


async def list_page(
    session: AsyncSession, catalog: CompiledCatalog, asset_id: uuid.UUID, paging: PageParams
) -> Page[ClassificationOut]:
    """The asset's classifications (rule and manual), oldest first; NotFound for an unknown
    asset."""
    await _asset(session, asset_id)
    stmt = (
        select(Classification)
        .where(Classification.asset_id == asset_id)
        .order_by(Classification.created_at, Classification.id)
    )
    rows, total = await fetch_page(session, stmt, paging)
    taxonomy = await catalog.taxonomy(session)
    return Page.of([out(row, taxonomy) for row in rows], total, paging)


async def history_page(
    session: AsyncSession, asset_id: uuid.UUID, paging: PageParams
) -> Page[ClassificationChangeOut]:
    """Why the asset's classifications came, changed and went, newest first."""
    await _asset(session, asset_id)
    stmt = (
        select(ClassificationChange)
        .where(ClassificationChange.asset_id == asset_id)
        .order_by(ClassificationChange.at.desc(), ClassificationChange.id.desc())
    )
    rows, total = await fetch_page(session, stmt, paging)
    return Page.of([ClassificationChangeOut.model_validate(r) for r in rows], total, paging)
