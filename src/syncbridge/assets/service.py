"""Reading assets: the filtered list and one asset with its classifications.

Read-only; the request's unit of work owns the (read) transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.assets import repository
from syncbridge.assets.naming import Namer, text_fields
from syncbridge.assets.repository import AssetFilter, ConceptRow
from syncbridge.assets.schemas import (
    AssetClassification,
    AssetOut,
    AssetSummary,
    ClassifiedConcept,
)
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.errors import InvalidInput, NotFound
from syncbridge.mapping.repository import connection_exists
from syncbridge.models import Asset
from syncbridge.store.paging import Page, PageParams, fetch_page


@dataclass(frozen=True)
class AssetQuery:
    """The list's filters as the API takes them."""

    connection_id: uuid.UUID | None = None
    #: A concept key, or a concept id in its text form.
    concept: str | None = None
    q: str | None = None
    updated_since: datetime | None = None
    include_deleted: bool = False


def _invalid(field: str, reason: str) -> InvalidInput:
    return InvalidInput(f"{field}: {reason}", errors=[{"field": field, "reason": reason}])


async def _concept_id(session: AsyncSession, concept: str) -> uuid.UUID:
    try:
        key_or_id: str | uuid.UUID = uuid.UUID(concept)
    except ValueError:
        key_or_id = concept
    found = await repository.concept_id_of(session, key_or_id)
    if found is None:
        raise _invalid("concept", "no concept has this key or id")
    return found


async def _filter(
    session: AsyncSession, registry: ConnectorRegistry, query: AssetQuery
) -> AssetFilter:
    """The store filter of ``query``; 422 naming the field for an unknown connection or
    concept."""
    if query.connection_id is not None and not await connection_exists(
        session, query.connection_id
    ):
        raise _invalid("connection_id", "no connection has this id")
    concept_id = None if query.concept is None else await _concept_id(session, query.concept)
    fields = None
    if query.q is not None:
        fields = text_fields(registry, await repository.connector_keys_in_use(session))
    return AssetFilter(
        connection_id=query.connection_id,
        concept_id=concept_id,
        text=query.q,
        text_fields=fields,
        updated_since=query.updated_since,
        include_deleted=query.include_deleted,
    )


async def namer_for(
    session: AsyncSession, registry: ConnectorRegistry, connection_ids: set[uuid.UUID]
) -> Namer:
    """A namer over the given connections."""
    return Namer(registry, await repository.connections_by_id(session, connection_ids))


def summary_of(asset: Asset, namer: Namer) -> AssetSummary:
    facts = namer.facts(asset.connection_id, asset.stream, asset.data)
    return AssetSummary(
        id=asset.id,
        connection=namer.connection(asset.connection_id),
        stream=asset.stream,
        external_id=asset.external_id,
        name=facts.title,
        file_name=facts.file_name,
        dam_url=facts.url,
        content_hash=asset.content_hash,
        vendor_updated_at=asset.vendor_updated_at,
        first_seen_at=asset.first_seen_at,
        updated_at=asset.updated_at,
        deleted_at=asset.deleted_at,
    )


def classified_concept(row: ConceptRow) -> ClassifiedConcept:
    return ClassifiedConcept(
        key=row.key, scheme=row.scheme, pref_label=row.pref_label, status=row.status
    )


async def list_assets(
    session: AsyncSession, registry: ConnectorRegistry, query: AssetQuery, paging: PageParams
) -> Page[AssetSummary]:
    """Assets matching ``query``, by external id then connection."""
    stmt = repository.assets_query(await _filter(session, registry, query))
    assets, total = await fetch_page(session, stmt, paging)
    namer = await namer_for(session, registry, {a.connection_id for a in assets})
    return Page.of([summary_of(a, namer) for a in assets], total, paging)


async def get_asset(session: AsyncSession, asset_id: uuid.UUID) -> Asset:
    """The asset (tombstoned ones too); NotFound when no asset has this id."""
    asset = await session.get(Asset, asset_id)
    if asset is None:
        raise NotFound(f"No asset {asset_id}.")
    return asset


async def show_asset(
    session: AsyncSession, registry: ConnectorRegistry, asset_id: uuid.UUID
) -> AssetOut:
    """One asset with its data and the concepts it is on (once per concept and source)."""
    asset = await get_asset(session, asset_id)
    namer = await namer_for(session, registry, {asset.connection_id})
    pairs = await repository.concepts_of(session, asset.id)
    concepts = await repository.concepts_by_id(session, {cid for cid, _ in pairs})
    classifications = [
        AssetClassification.model_validate(
            {"concept": classified_concept(concepts[cid]), "source": source}
        )
        for cid, source in pairs
        if cid in concepts
    ]
    classifications.sort(key=lambda c: (c.concept.key, c.source))
    return AssetOut(
        **summary_of(asset, namer).model_dump(),
        last_run_id=asset.last_run_id,
        seen_run_id=asset.seen_run_id,
        data=asset.data,
        classifications=classifications,
    )


__all__ = ["AssetQuery", "get_asset", "list_assets", "namer_for", "show_asset", "summary_of"]
