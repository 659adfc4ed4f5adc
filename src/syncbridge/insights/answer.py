"""The answer of ``GET /v1/insights`` built from the computed groups: pure, run off the event
loop (a query over three schemes can have tens of thousands of groups)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from syncbridge.assets.naming import Namer
from syncbridge.insights.facets import FacetIndex
from syncbridge.insights.schemas import (
    Insights,
    InsightsConcept,
    InsightsGroup,
    InsightsSummary,
    InsightsTopAsset,
)
from syncbridge.insights.summary import Insights as Computed
from syncbridge.insights.summary import Measured, Summary
from syncbridge.tagging.schemas import CountKpi, RateKpi

__all__ = ["Header", "ShownAsset", "build_answer"]


@dataclass(frozen=True, slots=True)
class ShownAsset:
    """What a top asset shows of its stored row."""

    id: uuid.UUID
    connection_id: uuid.UUID
    stream: str
    external_id: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Header:
    """What the answer says about the query itself."""

    group_by: list[str]
    kpi: CountKpi | RateKpi
    first: date
    last: date
    min_sample: int
    connection_id: uuid.UUID | None
    assets: int


class _Builder:
    """Builds each top asset and concept once: a group and its broader groups often share
    their best assets."""

    def __init__(self, shown: Mapping[uuid.UUID, ShownAsset], namer: Namer, index: FacetIndex):
        self.shown, self.namer, self.index = shown, namer, index
        self._tops: dict[uuid.UUID, InsightsTopAsset] = {}
        self._concepts: dict[uuid.UUID, InsightsConcept] = {}

    def top(self, measured: Measured) -> InsightsTopAsset:
        # An asset's KPI is the same in every group it is in.
        built = self._tops.get(measured.asset_id)
        if built is None:
            asset = self.shown[measured.asset_id]
            facts = self.namer.facts(asset.connection_id, asset.stream, asset.data)
            built = self._tops[measured.asset_id] = InsightsTopAsset(
                id=asset.id,
                name=facts.title or facts.file_name,
                external_id=asset.external_id,
                connection=self.namer.connection(asset.connection_id),
                dam_url=facts.url,
                value=measured.value or 0.0,
                sample=measured.sample,
                smoothed=measured.smoothed,
            )
        return built

    def concept(self, concept_id: uuid.UUID) -> InsightsConcept:
        built = self._concepts.get(concept_id)
        if built is None:
            c = self.index.concepts[concept_id]
            built = InsightsConcept(scheme=c.scheme, key=c.key, pref_label=c.pref_label)
            self._concepts[concept_id] = built
        return built

    def fields(self, summary: Summary) -> dict[str, Any]:
        return {
            "assets": summary.assets,
            "insufficient": summary.insufficient,
            "median": summary.median,
            "p25": summary.p25,
            "p75": summary.p75,
            "iqr": summary.iqr,
            "min": summary.min,
            "max": summary.max,
            "mean": summary.mean,
            "pooled": summary.pooled,
            "top_assets": [self.top(m) for m in summary.top],
        }

    def group(self, key: Sequence[uuid.UUID], summary: Summary) -> InsightsGroup:
        return InsightsGroup(concepts=[self.concept(c) for c in key], **self.fields(summary))


def build_answer(
    header: Header,
    computed: Computed,
    shown: Mapping[uuid.UUID, ShownAsset],
    namer: Namer,
    index: FacetIndex,
) -> Insights:
    """The answer: the query, the overall figures, and the groups by their concept keys."""
    builder = _Builder(shown, namer, index)
    groups = [builder.group(key, summary) for key, summary in computed.groups.items()]
    groups.sort(key=lambda g: [c.key for c in g.concepts])
    return Insights(
        group_by=header.group_by,
        kpi=header.kpi,
        first=header.first,
        last=header.last,
        min_sample=header.min_sample,
        connection_id=header.connection_id,
        ranked_by=computed.ranked_by,
        assets=header.assets,
        ungrouped=computed.ungrouped,
        overall=InsightsSummary(**builder.fields(computed.overall)),
        groups=groups,
    )
