"""The scoring core: per asset, a tag rule's KPI, smoothed value, percentile rank within its
cohort and the tier concept it earns. Pure: values in, values out, no store.

Definitions (the README's "Scoring runs" repeats them):

- **sample**: for a rate the denominator's total over the window, for a count the days with
  data. Below the rule's ``min_sample`` an asset gets the insufficient concept and is left
  out of its cohort's ranking (it neither counts in the cohort size nor moves anyone's rank).
- **smoothed**: a rate is ranked by the lower bound of its Wilson score interval at the
  rule's confidence (two-sided z; the observed rate is clamped into 0..1 for the bound), or
  by its Bayesian average ``(k + w * r) / (n + w)`` towards its cohort's pooled rate ``r``
  (every asset of the cohort with a denominator, sufficient or not). A count is not smoothed.
- **percentile**: ``100 * (below + (equal - 1) / 2) / (n - 1)`` among the ``n`` ranked assets
  of the cohort, ``below`` of them with a strictly lower smoothed value and ``equal`` with the
  same one (the asset included). Ties share the mid-rank of their group, so the best asset of
  a cohort is at 100, the worst at 0, a cohort of equals all at 50, and an asset alone in its
  cohort at 50.
- **cohort**: per scheme of ``cohort_by``, the asset's concept keys in that scheme, sorted
  and joined by ``+`` (an asset on two channels is ranked with the assets on the same two),
  or ``none``; the schemes' parts joined by ``/`` (``asset-type:image/channel:email``). An
  empty ``cohort_by`` puts every asset in the cohort ``all``.
- **tier**: the band with ``from <= percentile < to`` (the top band includes 100), computed
  on the exact fraction so 90 is never 89.999.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist
from typing import Any, Literal

__all__ = [
    "AssetSample",
    "Band",
    "RuleSpec",
    "Score",
    "band_of",
    "bayes_average",
    "cohort_key",
    "rule_spec",
    "score_assets",
    "wilson_lower_bound",
]


@dataclass(frozen=True, slots=True)
class Band:
    """A tier: its concept for percentile ranks ``from_percentile <= p < to_percentile``."""

    concept: str
    from_percentile: float
    to_percentile: float


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """What scoring needs of a tag rule."""

    kpi_type: Literal["rate", "count"]
    min_sample: int
    bands: tuple[Band, ...]
    insufficient_concept: str
    smoothing: Literal["wilson", "bayes"] | None = None
    confidence: float = 0.95
    prior_weight: float = 0.0


@dataclass(frozen=True, slots=True)
class AssetSample:
    """One asset's totals over the rule's window.

    ``numerator``: the rate's numerator total, or the count's total; ``denominator``: the
    rate's denominator total (0 for a count); ``days``: days with data for the KPI.
    """

    asset_id: uuid.UUID
    cohort: str
    numerator: float
    denominator: float
    days: int


@dataclass(frozen=True, slots=True)
class Score:
    """The desired tag of one asset under one rule, and what it was computed from."""

    asset_id: uuid.UUID
    concept: str
    cohort: str
    #: Ranked assets in the cohort (those with at least the minimum sample).
    cohort_size: int
    sample: float
    kpi: float | None
    smoothed: float | None
    percentile: float | None

    @property
    def ranked(self) -> bool:
        """Whether the asset was ranked (had enough sample)."""
        return self.percentile is not None


def rule_spec(
    *,
    kpi: Mapping[str, Any],
    smoothing: Mapping[str, Any] | None,
    min_sample: int,
    tiers: Sequence[Mapping[str, Any]],
    insufficient_concept: str,
) -> RuleSpec:
    """A :class:`RuleSpec` from a tag rule's stored parts (a rate without smoothing: Wilson
    at 0.95, as the API defaults it)."""
    bands = tuple(
        Band(str(t["concept"]), float(t["from_percentile"]), float(t["to_percentile"]))
        for t in tiers
    )
    if kpi["type"] == "count":
        return RuleSpec("count", min_sample, bands, insufficient_concept)
    smoothing = smoothing or {"method": "wilson", "confidence": 0.95}
    if smoothing["method"] == "bayes":
        return RuleSpec(
            "rate",
            min_sample,
            bands,
            insufficient_concept,
            smoothing="bayes",
            prior_weight=float(smoothing["prior_weight"]),
        )
    return RuleSpec(
        "rate",
        min_sample,
        bands,
        insufficient_concept,
        smoothing="wilson",
        confidence=float(smoothing.get("confidence", 0.95)),
    )


def cohort_key(cohort_by: Sequence[str], concepts: Mapping[str, Iterable[str]]) -> str:
    """The cohort of an asset whose concept keys by scheme key are ``concepts``."""
    if not cohort_by:
        return "all"
    parts = ("+".join(sorted(set(concepts.get(scheme, ())))) or "none" for scheme in cohort_by)
    return "/".join(parts)


def wilson_lower_bound(successes: float, trials: float, confidence: float) -> float:
    """The lower bound of the Wilson score interval of ``successes`` in ``trials`` (0 for no
    trials); the observed rate is clamped into 0..1."""
    if trials <= 0:
        return 0.0
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = min(max(successes / trials, 0.0), 1.0)
    z2n = z * z / trials
    centre = p + z2n / 2
    spread = z * math.sqrt(p * (1 - p) / trials + z2n / (4 * trials))
    return max(0.0, (centre - spread) / (1 + z2n))


def bayes_average(successes: float, trials: float, prior_rate: float, prior_weight: float) -> float:
    """``prior_weight`` trials at ``prior_rate`` added to the asset's own."""
    return (successes + prior_weight * prior_rate) / (trials + prior_weight)


def _sample(spec: RuleSpec, asset: AssetSample) -> float:
    return asset.denominator if spec.kpi_type == "rate" else float(asset.days)


def _kpi(spec: RuleSpec, asset: AssetSample) -> float | None:
    if spec.kpi_type == "count":
        return asset.numerator
    return asset.numerator / asset.denominator if asset.denominator > 0 else None


def _pooled_rates(assets: Iterable[AssetSample]) -> dict[str, float]:
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for a in assets:
        if a.denominator > 0:
            sums[a.cohort][0] += a.numerator
            sums[a.cohort][1] += a.denominator
    return {cohort: k / n for cohort, (k, n) in sums.items()}


def _smoothed(spec: RuleSpec, asset: AssetSample, pooled: Mapping[str, float]) -> float:
    if spec.kpi_type == "count":
        return asset.numerator
    if spec.smoothing == "bayes":
        prior = pooled.get(asset.cohort, 0.0)
        return bayes_average(asset.numerator, asset.denominator, prior, spec.prior_weight)
    return wilson_lower_bound(asset.numerator, asset.denominator, spec.confidence)


def _percentiles(values: Sequence[float]) -> list[Fraction]:
    """Mid-rank percentile of each value among ``values`` (see the module docstring)."""
    n = len(values)
    if n == 1:
        return [Fraction(50)]
    order = sorted(values)
    first: dict[float, int] = {}
    count: dict[float, int] = defaultdict(int)
    for i, v in enumerate(order):
        first.setdefault(v, i)
        count[v] += 1
    return [Fraction(100) * (2 * first[v] + count[v] - 1) / (2 * (n - 1)) for v in values]


def band_of(bands: Sequence[Band], percentile: Fraction) -> str:
    """The concept of the band holding ``percentile`` (the top band includes 100)."""
    top = max(bands, key=lambda b: b.to_percentile)
    for band in bands:
        low, high = Fraction(band.from_percentile), Fraction(band.to_percentile)
        if low <= percentile < high or (band is top and percentile == high):
            return band.concept
    raise ValueError(f"no tier holds percentile {float(percentile)}")


def score_assets(spec: RuleSpec, assets: Iterable[AssetSample]) -> list[Score]:
    """Score every asset under ``spec``, in the order given."""
    assets = list(assets)
    pooled = _pooled_rates(assets) if spec.smoothing == "bayes" else {}
    smoothed = [_smoothed(spec, a, pooled) for a in assets]
    ranked: dict[str, list[int]] = defaultdict(list)
    for i, a in enumerate(assets):
        if _sample(spec, a) >= spec.min_sample:
            ranked[a.cohort].append(i)
    percentile: dict[int, Fraction] = {}
    for members in ranked.values():
        ranks = _percentiles([smoothed[i] for i in members])
        percentile.update(zip(members, ranks, strict=True))
    out = []
    for i, a in enumerate(assets):
        rank = percentile.get(i)
        out.append(
            Score(
                asset_id=a.asset_id,
                concept=spec.insufficient_concept if rank is None else band_of(spec.bands, rank),
                cohort=a.cohort,
                cohort_size=len(ranked.get(a.cohort, ())),
                sample=_sample(spec, a),
                kpi=_kpi(spec, a),
                smoothed=smoothed[i],
                percentile=None if rank is None else float(rank),
            )
        )
    return out
