"""Insights over the store: check the query, read the assets in scope, their classifications
and window totals in one read transaction, compute the groups off the event loop
(:func:`syncbridge.insights.summary.compute_insights`), and name the top assets.

The window defaults to the last :data:`DEFAULT_WINDOW_DAYS` days ending today (UTC), both
included: ``to`` defaults to today, ``from`` to ``to`` minus 29 days.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.assets.service import namer_for
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.errors import InvalidInput
from syncbridge.insights import repository
from syncbridge.insights.answer import Header, build_answer
from syncbridge.insights.facets import FacetCache, FacetIndex
from syncbridge.insights.kpi import KpiError, kpi_metrics, parse_kpi
from syncbridge.insights.schemas import Insights
from syncbridge.insights.summary import AssetTotals, Summary, compute_insights
from syncbridge.models import Connection
from syncbridge.models.base import utcnow
from syncbridge.offload import run_cpu
from syncbridge.scoring.repository import window_totals
from syncbridge.tagging.schemas import CountKpi, RateKpi

__all__ = ["DEFAULT_WINDOW_DAYS", "MAX_SCHEMES", "MAX_WINDOW_DAYS", "InsightsQuery", "insights"]

#: The window read when the query names none (days, today included).
DEFAULT_WINDOW_DAYS = 30
#: The longest window read at once (days).
MAX_WINDOW_DAYS = 366
#: The most schemes one query groups by (groups multiply with each).
MAX_SCHEMES = 3


@dataclass(frozen=True)
class InsightsQuery:
    """What ``GET /v1/insights`` asks, as given (checked by :func:`insights`)."""

    group_by: str
    kpi: str
    first: date | None = None
    last: date | None = None
    min_sample: int = 1
    top: int = 5
    connection_id: uuid.UUID | None = None


def _error(field: str, reason: str) -> dict[str, str]:
    return {"field": field, "reason": reason}


def _shift(day: date, days: int) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def _window(first: date | None, last: date | None) -> tuple[date, date, list[dict[str, str]]]:
    last = last or utcnow().date()
    first = first or _shift(last, -(DEFAULT_WINDOW_DAYS - 1))
    if first > last:
        return first, last, [_error("from", f"{first} is after to ({last})")]
    if (last - first).days + 1 > MAX_WINDOW_DAYS:
        reason = f"the window from {first} to {last} is longer than {MAX_WINDOW_DAYS} days"
        return first, last, [_error("from", reason)]
    return first, last, []


def _scheme_of(name: str, known: Collection[str]) -> str | None:
    """The scheme ``name`` names: its key, or the one key it spells with ``_`` for ``-``
    (``asset_type`` for ``asset-type``)."""
    if name in known:
        return name
    spelled = [key for key in known if key.replace("-", "_") == name.replace("-", "_")]
    return spelled[0] if len(spelled) == 1 else None


def _schemes(text: str, index: FacetIndex) -> tuple[list[str], list[dict[str, str]]]:
    names = [part.strip() for part in text.split(",")]
    if not any(names):
        return [], [_error("group_by", "name at least one taxonomy scheme key")]
    if len(names) > MAX_SCHEMES:
        return [], [_error("group_by", f"at most {MAX_SCHEMES} schemes")]
    schemes: list[str] = []
    errors = []
    for name in names:
        scheme = _scheme_of(name, index.schemes)
        if not name:
            errors.append(_error("group_by", "an empty scheme key"))
        elif scheme is None:
            known = ", ".join(sorted(index.schemes)) or "none yet"
            errors.append(_error("group_by", f"no taxonomy scheme {name[:100]!r} (known: {known})"))
        elif scheme in schemes:
            errors.append(_error("group_by", f"{scheme!r} is listed twice"))
        else:
            schemes.append(scheme)
    return schemes, errors


@dataclass(frozen=True)
class _Checked:
    schemes: list[str]
    kpi: CountKpi | RateKpi
    first: date
    last: date


async def _check(session: AsyncSession, query: InsightsQuery, index: FacetIndex) -> _Checked:
    """The query's parts, or InvalidInput naming every bad parameter and why."""
    schemes, errors = _schemes(query.group_by, index)
    kpi: CountKpi | RateKpi | None = None
    try:
        kpi = parse_kpi(query.kpi)
    except KpiError as exc:
        errors.append(_error("kpi", str(exc)))
    first, last, window_errors = _window(query.first, query.last)
    errors += window_errors
    if query.connection_id is not None and not await session.get(Connection, query.connection_id):
        errors.append(_error("connection_id", "no such connection"))
    if errors or kpi is None:
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        raise InvalidInput(detail, errors=errors)
    return _Checked(schemes, kpi, first, last)


async def _totals(
    session: AsyncSession, kpi: CountKpi | RateKpi, first: date, last: date
) -> dict[uuid.UUID, AssetTotals]:
    metrics = kpi_metrics(kpi)
    read = await window_totals(session, metrics, first, last)
    out = {}
    for asset_id, by_metric in read.items():
        top, bottom = by_metric.get(metrics[0]), None
        if len(metrics) == 2:
            bottom = by_metric.get(metrics[1])
        out[asset_id] = AssetTotals(
            numerator=top.value if top else 0.0,
            numerator_days=top.days if top else 0,
            denominator=bottom.value if bottom else 0.0,
            denominator_days=bottom.days if bottom else 0,
        )
    return out


def _top_ids(summaries: Iterable[Summary]) -> set[uuid.UUID]:
    return {m.asset_id for summary in summaries for m in summary.top}


async def insights(
    session: AsyncSession, facets: FacetCache, registry: ConnectorRegistry, query: InsightsQuery
) -> Insights:
    """Performance grouped by the query's schemes (see :mod:`syncbridge.insights.summary`);
    InvalidInput naming each bad parameter. Reads only."""
    index = await facets.index(session)
    checked = await _check(session, query, index)
    assets = await repository.live_assets(session, query.connection_id)
    classified = await repository.classified_on(session, index.rolling_into(checked.schemes))
    totals = await _totals(session, checked.kpi, checked.first, checked.last)
    result = await run_cpu(
        lambda: compute_insights(
            assets=assets,
            classified=classified,
            totals=totals,
            index=index,
            schemes=checked.schemes,
            kpi_type=checked.kpi.type,
            min_sample=query.min_sample,
            top=query.top,
        )
    )
    shown = await repository.shown_assets(
        session, _top_ids([result.overall, *result.groups.values()])
    )
    namer = await namer_for(session, registry, {a.connection_id for a in shown.values()})
    header = Header(
        group_by=checked.schemes,
        kpi=checked.kpi,
        first=checked.first,
        last=checked.last,
        min_sample=query.min_sample,
        connection_id=query.connection_id,
        assets=len(assets),
    )
    return await run_cpu(build_answer, header, result, shown, namer, index)
