"""The insights core: each asset's KPI, the groups it counts in, and each group's summary.
Pure: values in, values out, no store.

Definitions (the README's "Insights" repeats them):

- **KPI and sample** as in the tag rules: a rate is the numerator's total over the
  denominator's over the window, its sample the denominator's total; a count is the metric's
  total, its sample the days with data. An asset counts in a group's figures when its sample
  is at least ``min_sample`` (and, for a rate, its denominator is above zero); the others are
  the group's ``insufficient`` assets.
- **Groups**: per grouped scheme, the concepts the asset is classified on and their broader
  concepts of that scheme (:class:`~syncbridge.insights.facets.FacetIndex`); with several
  schemes, every combination of one such concept per scheme. An asset on two concepts of a
  scheme counts in both groups. An asset with no concept in one of the schemes is
  ``ungrouped``.
- **Median and spread**: quantiles with linear interpolation between the sorted values
  (``statistics.quantiles(method="inclusive")``, numpy's default): p25, median, p75, the
  interquartile range ``p75 - p25``, min, max and mean; for a rate also the pooled rate (the
  group's numerator total over its denominator total).
- **Top assets**: a count ranks by its value. A rate that is a proportion (no counted
  asset's numerator above its denominator, such as key events per view) ranks by the lower
  bound of its Wilson interval at 95 % (as the default tag rule ranks), so 2 key events on 3
  views does not top a steady rate on thousands of views; any other rate (revenue per view)
  ranks by its value. Ties go to the larger sample, then to the smaller id.
"""

from __future__ import annotations

import heapq
import itertools
import math
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from syncbridge.insights.facets import FacetIndex
from syncbridge.scoring.score import wilson_lower_bound

__all__ = [
    "CONFIDENCE",
    "AssetTotals",
    "Insights",
    "Measured",
    "RankedBy",
    "Summary",
    "compute_insights",
    "measure",
    "quantile",
    "summarise",
]

#: The confidence of the Wilson bound rates are ranked by (the default tag rule's).
CONFIDENCE = 0.95

KpiType = Literal["count", "rate"]
RankedBy = Literal["value", "wilson_lower_bound"]
GroupKey = tuple[uuid.UUID, ...]


@dataclass(frozen=True, slots=True)
class AssetTotals:
    """One asset's totals over the window: the count's (or the rate's numerator) total and
    its days with data, and the rate's denominator total and its days (0 for a count)."""

    numerator: float = 0.0
    numerator_days: int = 0
    denominator: float = 0.0
    denominator_days: int = 0


@dataclass(frozen=True, slots=True)
class Measured:
    """One asset's KPI (None when it is below the minimum sample) and how it ranks."""

    asset_id: uuid.UUID
    sample: float
    numerator: float
    denominator: float
    value: float | None
    #: The Wilson lower bound a proportion ranks by (None: ranked by its value).
    smoothed: float | None = None

    def rank_key(self) -> tuple[float, float, uuid.UUID]:
        """Ascending order is best first."""
        ranked = self.smoothed if self.smoothed is not None else self.value
        return (-(ranked or 0.0), -self.sample, self.asset_id)


@dataclass(frozen=True, slots=True)
class Summary:
    """A group's figures (every statistic None when no asset counts)."""

    assets: int
    insufficient: int
    median: float | None
    p25: float | None
    p75: float | None
    iqr: float | None
    min: float | None
    max: float | None
    mean: float | None
    pooled: float | None
    top: tuple[Measured, ...]


@dataclass(frozen=True, slots=True)
class Insights:
    """Every group's summary (by its concepts, one per scheme), all assets' summary, how
    many assets fell in no group, and what the top assets are ranked by."""

    groups: dict[GroupKey, Summary]
    overall: Summary
    ungrouped: int
    ranked_by: RankedBy


def measure(
    asset_id: uuid.UUID, kpi_type: KpiType, totals: AssetTotals, min_sample: float
) -> Measured:
    """The asset's KPI over its window ``totals`` (see the module docstring)."""
    if kpi_type == "count":
        sample = float(totals.numerator_days)
        value = totals.numerator if sample >= min_sample else None
        return Measured(asset_id, sample, totals.numerator, 0.0, value)
    sample = totals.denominator
    value = totals.numerator / sample if sample > 0 and sample >= min_sample else None
    return Measured(asset_id, sample, totals.numerator, sample, value)


def _proportion(measured: Iterable[Measured]) -> bool:
    return all(m.numerator <= m.denominator for m in measured if m.value is not None)


def _smoothed(measured: Measured) -> Measured:
    if measured.value is None:
        return measured
    bound = wilson_lower_bound(measured.numerator, measured.denominator, CONFIDENCE)
    m = measured
    return Measured(m.asset_id, m.sample, m.numerator, m.denominator, m.value, bound)


def quantile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of the ascending ``ordered`` values, interpolated linearly
    between the two nearest ranks."""
    if not ordered:
        raise ValueError("no values")
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarise(members: Iterable[Measured], kpi_type: KpiType, top: int) -> Summary:
    """The figures of one group of assets."""
    members = list(members)
    counted = [m for m in members if m.value is not None]
    insufficient = len(members) - len(counted)
    if not counted:
        return Summary(0, insufficient, None, None, None, None, None, None, None, None, ())
    values = sorted(m.value for m in counted if m.value is not None)
    p25, median, p75 = (quantile(values, q) for q in (0.25, 0.5, 0.75))
    pooled = None
    if kpi_type == "rate":
        pooled = sum(m.numerator for m in counted) / sum(m.denominator for m in counted)
    best = heapq.nsmallest(top, counted, key=Measured.rank_key)
    return Summary(
        assets=len(counted),
        insufficient=insufficient,
        median=median,
        p25=p25,
        p75=p75,
        iqr=p75 - p25,
        min=values[0],
        max=values[-1],
        mean=math.fsum(values) / len(values),
        pooled=pooled,
        top=tuple(best),
    )


def _group_keys(
    concepts: Iterable[uuid.UUID], index: FacetIndex, schemes: Sequence[str]
) -> list[GroupKey]:
    per_scheme: list[set[uuid.UUID]] = [set() for _ in schemes]
    for concept_id in concepts:
        for i, scheme in enumerate(schemes):
            per_scheme[i] |= index.groups_of(concept_id, scheme)
    if not all(per_scheme):
        return []
    return list(itertools.product(*per_scheme))


def compute_insights(
    *,
    assets: Sequence[uuid.UUID],
    classified: Mapping[uuid.UUID, Iterable[uuid.UUID]],
    totals: Mapping[uuid.UUID, AssetTotals],
    index: FacetIndex,
    schemes: Sequence[str],
    kpi_type: KpiType,
    min_sample: float,
    top: int,
) -> Insights:
    """The insights over ``assets`` (the assets in scope), classified on the concepts in
    ``classified`` (by asset), with their window ``totals`` (an asset without is all zero)."""
    none = AssetTotals()
    everyone = [measure(a, kpi_type, totals.get(a, none), min_sample) for a in assets]
    ranked_by: RankedBy = "value"
    if kpi_type == "rate" and _proportion(everyone):
        ranked_by = "wilson_lower_bound"
        everyone = [_smoothed(m) for m in everyone]
    members: dict[GroupKey, list[Measured]] = defaultdict(list)
    ungrouped = 0
    # Many assets share their concepts: their groups are worked out once per combination.
    known: dict[frozenset[uuid.UUID], list[GroupKey]] = {}
    for measured in everyone:
        concepts = frozenset(classified.get(measured.asset_id, ()))
        keys = known.get(concepts)
        if keys is None:
            keys = known[concepts] = _group_keys(concepts, index, schemes)
        if not keys:
            ungrouped += 1
        for key in keys:
            members[key].append(measured)
    groups = {key: summarise(group, kpi_type, top) for key, group in members.items()}
    return Insights(groups, summarise(everyone, kpi_type, top), ungrouped, ranked_by)
