"""What ``GET /v1/assets/{id}/metrics`` answers."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from syncbridge.assets.schemas import ConnectionName
from syncbridge.metrics.examples import METRICS_EXAMPLE

#: Metrics that are amounts of money (an exact decimal string); the others are counts.
MONEY_METRICS = frozenset({"revenue", "influenced_revenue"})
_CENT = Decimal("0.01")

#: A count is a JSON integer; an amount of money an exact decimal string.
Value = int | Decimal


def shown(metric: str, value: Decimal) -> Value:
    """A stored value as the API shows it: counts as integers, money with (at least) cents."""
    if metric in MONEY_METRICS:
        cents = value.quantize(_CENT)
        return cents if cents == value else value.normalize()
    return int(value) if value == value.to_integral_value() else value.normalize()


class MetricFactOut(BaseModel):
    """One asset's value of one metric on one day, from one source connection."""

    day: date
    metric: str
    value: Value
    connection: ConnectionName
    records: int = Field(description="How many records the value was computed from.")
    record_ids: list[uuid.UUID] = Field(
        description="The records behind the source connection's facts of the day (at most "
        "100; `records` counts them all)."
    )
    attribution: Literal["even", "full"] | None = Field(
        description="How a deal's amount was credited to the assets linked to it (only for "
        "influenced_revenue): `even` splits it over the deal's assets in each DAM, `full` "
        "credits each the whole amount."
    )
    run_id: uuid.UUID | None = Field(description="The sync run whose changes computed it.")
    computed_at: datetime


class MetricTotal(BaseModel):
    """One metric from one source connection, summed over the window."""

    metric: str
    value: Value
    connection: ConnectionName
    records: int
    days: int = Field(description="Days of the window with a value.")
    attribution: Literal["even", "full"] | None


class AssetMetrics(BaseModel):
    """An asset's daily metric facts over a window, and their totals."""

    model_config = ConfigDict(
        populate_by_name=True, json_schema_extra={"examples": [METRICS_EXAMPLE]}
    )

    asset_id: uuid.UUID
    first: date = Field(alias="from", description="The window's first day.")
    last: date = Field(alias="to", description="The window's last day (included).")
    facts: list[MetricFactOut] = Field(description="By day, metric, then source connection.")
    totals: list[MetricTotal] = Field(description="Per metric and source connection.")


__all__ = ["MONEY_METRICS", "AssetMetrics", "MetricFactOut", "MetricTotal", "Value", "shown"]
