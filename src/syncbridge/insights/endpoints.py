"""``GET /v1/insights``: performance grouped by taxonomy facets (viewer), as JSON or, with
``Accept: text/csv``, as CSV (one row per group)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from syncbridge.api.deps import SessionDep, UnitOfWorkRoute, Viewer
from syncbridge.insights import service
from syncbridge.insights.facets import FacetCache
from syncbridge.insights.kpi import DEFAULT_KPI
from syncbridge.insights.schemas import Insights
from syncbridge.insights.table import render_csv
from syncbridge.offload import run_cpu

router = APIRouter(prefix="/v1/insights", tags=["insights"], route_class=UnitOfWorkRoute)

CSV = "text/csv"
JSON = "application/json"
_CSV_BODY = {"schema": {"type": "string", "description": "One row per group (see the README)."}}

GroupBy = Annotated[
    str,
    Query(
        min_length=1,
        max_length=500,
        description="Taxonomy scheme keys, comma-separated (at most 3), such as "
        "`channel,asset-type`: one group per combination of one concept of each. A group "
        "includes the assets of its concept's narrower concepts.",
    ),
]
Kpi = Annotated[
    str,
    Query(
        min_length=1,
        max_length=200,
        description="A metric of the metric facts (a count: its total over the window), or "
        "`numerator/denominator` (a rate), as tag rules define KPIs: `key_events/views`, "
        "`influenced_revenue`.",
    ),
]
FromDay = Annotated[
    date | None,
    Query(alias="from", description="The window's first day (default: 29 days before `to`)."),
]
ToDay = Annotated[
    date | None,
    Query(description="The window's last day, included (default: today, UTC)."),
]
MinSample = Annotated[
    int,
    Query(
        ge=0,
        le=1_000_000_000,
        description="An asset's KPI counts from this sample on: for a rate the "
        "denominator's total over the window, for a count the days with data.",
    ),
]
Top = Annotated[int, Query(ge=1, le=50, description="Top assets listed per group.")]
ConnectionId = Annotated[uuid.UUID | None, Query(description="Only this DAM connection's assets.")]


def _quality(media_range: str) -> float:
    for param in media_range.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value.strip())
            except ValueError:
                return 0.0
    return 1.0


def wants_csv(accept: str | None) -> bool:
    """Whether the ``Accept`` header prefers CSV to JSON (JSON on a tie, or without one)."""
    if not accept:
        return False
    csv_q = json_q = 0.0
    for media_range in accept.split(","):
        kind = media_range.split(";")[0].strip().lower()
        q = _quality(media_range)
        if kind == CSV:
            csv_q = max(csv_q, q)
        elif kind in (JSON, "application/*", "*/*"):
            json_q = max(json_q, q)
    return csv_q > 0 and csv_q > json_q


@router.get(
    "",
    operation_id="get_insights",
    response_model=Insights,
    responses={200: {"content": {CSV: _CSV_BODY}}},
)
async def get_insights(
    request: Request,
    session: SessionDep,
    _principal: Viewer,
    group_by: GroupBy,
    kpi: Kpi = DEFAULT_KPI,
    first: FromDay = None,
    to: ToDay = None,
    min_sample: MinSample = 1,
    top: Top = 5,
    connection_id: ConnectionId = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """Performance grouped by taxonomy facets: per group, how many assets, the KPI's median
    and spread (p25, p75, IQR, min, max, mean, and a rate's pooled value) and the top assets
    (id, name, DAM URL, value), over a window of days (default: the last 30 days ending
    today). Assets of a narrower concept count in its broader concepts' groups; an asset on
    two concepts of a scheme counts in both. `Accept: text/csv` answers CSV, one row per
    group.

    422 naming the parameter for an unknown scheme, an unknown metric, `from` after `to`, a
    window over 366 days, a date that is not YYYY-MM-DD or an unknown connection.
    """
    facets: FacetCache = request.app.state.facets
    query = service.InsightsQuery(
        group_by=group_by,
        kpi=kpi,
        first=first,
        last=to,
        min_sample=min_sample,
        top=top,
        connection_id=connection_id,
    )
    answer = await service.insights(session, facets, request.app.state.registry, query)
    # Tens of thousands of groups render in a worker thread, not on the event loop.
    if wants_csv(accept):
        filename = f"insights-{answer.first}-{answer.last}.csv"
        return Response(
            await run_cpu(render_csv, answer, top),
            media_type=CSV,
            headers={"Vary": "Accept", "Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return Response(await run_cpu(render_json, answer), media_type=JSON, headers={"Vary": "Accept"})


def render_json(answer: Insights) -> bytes:
    """The answer as the JSON body (by alias: ``from``, ``to``)."""
    return answer.model_dump_json(by_alias=True).encode()
