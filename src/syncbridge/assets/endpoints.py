"""``/v1/assets``: the stored DAM assets, one asset, the trace of one asset, and its daily
metric facts (``syncbridge.metrics``).

Read-only, for viewers. The text search (``q``) reads the external id and the asset fields
each connector declares as its name or file name (``ItemPresentation.text_fields``); it is
case-insensitive as the database's ``lower()`` folds (ASCII on SQLite; per the database's
locale on PostgreSQL) and is a scan of the assets the other filters leave (not indexed).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import AfterValidator

from syncbridge.api.deps import SessionDep, UnitOfWorkRoute, Viewer
from syncbridge.api.pagination import Page, Paging
from syncbridge.assets import service
from syncbridge.assets.schemas import AssetOut, AssetSummary, AssetTrace
from syncbridge.assets.service import AssetQuery
from syncbridge.assets.trace import trace_asset
from syncbridge.audit.endpoints import Since
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.metrics.schemas import AssetMetrics
from syncbridge.metrics.service import asset_metrics

router = APIRouter(prefix="/v1/assets", tags=["assets"], route_class=UnitOfWorkRoute)

#: The longest text search accepted.
Q_MAX_CHARS = 200


def _plain_text(value: str | None) -> str | None:
    # A NUL would reach PostgreSQL, which refuses it without saying which field held it.
    if value is None:
        return None
    if not value.strip():
        raise ValueError("must not be blank")
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    return value


#: The audit log's ``since`` (aware RFC 3339, within UTC's years), described for assets.
UpdatedSince = Annotated[
    Since,
    Query(
        description="Only assets whose content changed (or that were deleted) at or after "
        "this RFC 3339 date-time (with an offset)."
    ),
]
Text = Annotated[
    str | None,
    AfterValidator(_plain_text),
    Query(
        max_length=Q_MAX_CHARS,
        description="Case-insensitive text in the asset's name, title or file name, or its "
        "external id.",
    ),
]
ConceptParam = Annotated[
    str | None,
    AfterValidator(_plain_text),
    Query(
        min_length=1,
        max_length=200,
        description="A concept key or id: assets classified on it or on any concept "
        "narrower than it (at any depth).",
    ),
]
ConnectionParam = Annotated[uuid.UUID | None, Query(description="Only this connection's assets.")]
IncludeDeleted = Annotated[
    bool, Query(description="Also list assets deleted in the DAM (tombstones).")
]


def _registry(request: Request) -> ConnectorRegistry:
    registry: ConnectorRegistry = request.app.state.registry
    return registry


@router.get("", operation_id="list_assets")
async def list_assets(
    request: Request,
    session: SessionDep,
    _principal: Viewer,
    paging: Paging,
    connection_id: ConnectionParam = None,
    concept: ConceptParam = None,
    q: Text = None,
    updated_since: UpdatedSince = None,
    include_deleted: IncludeDeleted = False,
) -> Page[AssetSummary]:
    """Stored DAM assets, by external id then connection (an order syncs never reshuffle).

    422 naming the field for an unknown connection or concept, a blank or over-long text,
    or a time without an offset.
    """
    query = AssetQuery(
        connection_id=connection_id,
        concept=concept,
        q=q,
        updated_since=updated_since,
        include_deleted=include_deleted,
    )
    return await service.list_assets(session, _registry(request), query, paging)


@router.get("/{asset_id:uuid}", operation_id="get_asset")
async def get_asset(
    asset_id: uuid.UUID, request: Request, session: SessionDep, _principal: Viewer
) -> AssetOut:
    """One asset (deleted ones too): identity, DAM URL, timestamps, data, classifications."""
    return await service.show_asset(session, _registry(request), asset_id)


@router.get("/{asset_id:uuid}/trace", operation_id="trace_asset")
async def get_asset_trace(
    asset_id: uuid.UUID, request: Request, session: SessionDep, _principal: Viewer
) -> AssetTrace:
    """Why the asset carries what it carries: each classification with its rule and version
    (or person), the record and value that matched and the run; each linked record with the
    rule, field and value that linked it; and the runs that changed, read, classified or
    linked it. Each section lists its newest 200 items and counts them all."""
    return await trace_asset(session, _registry(request), asset_id)


FromDay = Annotated[
    date | None,
    Query(
        alias="from",
        description="The window's first day (YYYY-MM-DD). Default: 89 days before `to`.",
    ),
]
ToDay = Annotated[
    date | None,
    Query(
        description="The window's last day, included (YYYY-MM-DD). Default: the asset's "
        "latest day with a fact (today when it has none). At most 366 days after `from`.",
    ),
]


@router.get("/{asset_id:uuid}/metrics", operation_id="get_asset_metrics")
async def get_asset_metrics(
    asset_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    _principal: Viewer,
    first: FromDay = None,
    to: ToDay = None,
) -> AssetMetrics:
    """The asset's daily metric facts over a window (default: the last 90 days of its data):
    per day, metric and source connection the value, how many records it came from and
    which, and for influenced revenue the attribution rule; plus totals per metric and
    source connection. Counts are integers, money exact decimal strings.

    422 naming the field for a date that is not YYYY-MM-DD, `from` after `to`, or a window
    longer than 366 days.
    """
    return await asset_metrics(session, _registry(request), asset_id, first, to)
