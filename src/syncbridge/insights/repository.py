"""The queries of insights: the assets in scope, their classifications on the concepts
that roll up into the grouped schemes, and the assets shown as top assets. The KPI's window
totals are the scoring's (:func:`syncbridge.scoring.repository.window_totals`)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.insights.answer import ShownAsset
from syncbridge.models import Asset, Classification

__all__ = ["ID_CHUNK", "classified_on", "live_assets", "shown_assets"]

#: Ids per ``IN`` list (asyncpg takes at most 32,767 parameters a statement).
ID_CHUNK = 5000


async def live_assets(session: AsyncSession, connection_id: uuid.UUID | None) -> list[uuid.UUID]:
    """The assets not deleted in their DAM (of one DAM connection, when given)."""
    stmt = select(Asset.id).where(Asset.deleted_at.is_(None))
    if connection_id is not None:
        stmt = stmt.where(Asset.connection_id == connection_id)
    return list(await session.scalars(stmt))


async def classified_on(
    session: AsyncSession, concept_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, set[uuid.UUID]]:
    """Per asset, the concepts among ``concept_ids`` it is classified on (by a rule or a
    person)."""
    out: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for start in range(0, len(concept_ids), ID_CHUNK):
        rows = await session.execute(
            select(Classification.asset_id, Classification.concept_id).where(
                Classification.concept_id.in_(concept_ids[start : start + ID_CHUNK])
            )
        )
        for asset_id, concept_id in rows:
            out[asset_id].add(concept_id)
    return out


async def shown_assets(
    session: AsyncSession, asset_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, ShownAsset]:
    """What the top assets with these ids show (their naming columns)."""
    ids = sorted(asset_ids, key=str)
    out: dict[uuid.UUID, ShownAsset] = {}
    for start in range(0, len(ids), ID_CHUNK):
        rows = await session.execute(
            select(
                Asset.id, Asset.connection_id, Asset.stream, Asset.external_id, Asset.data
            ).where(Asset.id.in_(ids[start : start + ID_CHUNK]))
        )
        out.update(
            {r.id: ShownAsset(r.id, r.connection_id, r.stream, r.external_id, r.data) for r in rows}
        )
    return out
