"""What ``GET /v1/insights`` answers (as JSON; the CSV form is :mod:`.table`)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from syncbridge.assets.schemas import ConnectionName
from syncbridge.insights.examples import INSIGHTS_EXAMPLE
from syncbridge.tagging.schemas import CountKpi, RateKpi

__all__ = ["Insights", "InsightsConcept", "InsightsGroup", "InsightsSummary", "InsightsTopAsset"]


class InsightsConcept(BaseModel):
    """One concept a group is of; its figures include the assets of its narrower concepts."""

    scheme: str
    key: str
    pref_label: str | None


class InsightsTopAsset(BaseModel):
    """One of the best assets of a group by the KPI."""

    id: uuid.UUID
    name: str | None = Field(description="The asset's name or title in its DAM.")
    external_id: str
    connection: ConnectionName
    dam_url: str | None
    value: float = Field(description="The KPI over the window.")
    sample: float = Field(
        description="For a rate the denominator's total, for a count the days with data."
    )
    smoothed: float | None = Field(
        description="The lower bound of the rate's 95 % Wilson interval, when the top "
        "assets are ranked by it (`ranked_by`)."
    )


class InsightsSummary(BaseModel):
    """A set of assets' figures (each statistic null when no asset counts)."""

    assets: int = Field(description="Assets whose KPI counts (sample at least `min_sample`).")
    insufficient: int = Field(description="Assets of the group below `min_sample`.")
    median: float | None
    p25: float | None = Field(description="First quartile (linear interpolation).")
    p75: float | None = Field(description="Third quartile (linear interpolation).")
    iqr: float | None = Field(description="Interquartile range, p75 - p25.")
    min: float | None
    max: float | None
    mean: float | None
    pooled: float | None = Field(
        description="For a rate, the counted assets' numerator total over their denominator "
        "total; null for a count."
    )
    top_assets: list[InsightsTopAsset]


class InsightsGroup(InsightsSummary):
    """The figures of the assets on one concept of each grouped scheme."""

    concepts: list[InsightsConcept] = Field(description="One per `group_by` scheme, in order.")


class Insights(BaseModel):
    """Performance grouped by taxonomy facets."""

    model_config = ConfigDict(
        populate_by_name=True, json_schema_extra={"examples": [INSIGHTS_EXAMPLE]}
    )

    group_by: list[str]
    kpi: CountKpi | RateKpi
    first: date = Field(alias="from", description="The window's first day.")
    last: date = Field(alias="to", description="The window's last day, included.")
    min_sample: int
    connection_id: uuid.UUID | None
    ranked_by: Literal["value", "wilson_lower_bound"] = Field(
        description="What the top assets are ranked by: the KPI's value, or for a rate "
        "that is a proportion the lower bound of its 95 % Wilson interval."
    )
    assets: int = Field(description="Live assets in scope (of `connection_id`, if given).")
    ungrouped: int = Field(description="Assets in scope with no concept in some scheme.")
    overall: InsightsSummary = Field(description="Every asset in scope, grouped or not.")
    groups: list[InsightsGroup]
