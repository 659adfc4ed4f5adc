"""The pure scoring core: KPI, smoothing, cohort percentiles, tiers, insufficient data."""

from __future__ import annotations

import uuid
from fractions import Fraction

import pytest

from syncbridge.scoring.score import (
    AssetSample,
    Band,
    RuleSpec,
    Score,
    band_of,
    bayes_average,
    cohort_key,
    rule_spec,
    score_assets,
    wilson_lower_bound,
)

BANDS = (
    Band("perf:top-10", 90, 100),
    Band("perf:top-25", 75, 90),
    Band("perf:middle", 25, 75),
    Band("perf:bottom-25", 0, 25),
)
WILSON = RuleSpec("rate", 100, BANDS, "perf:insufficient-data", smoothing="wilson")


def sample(cohort: str, key_events: float, views: float, days: int = 28) -> AssetSample:
    return AssetSample(uuid.uuid4(), cohort, key_events, views, days)


def smoothed(scores: dict[uuid.UUID, Score], asset: AssetSample) -> float:
    value = scores[asset.asset_id].smoothed
    assert value is not None
    return value


def test_three_views_and_two_key_events_do_not_top_a_cohort_of_well_sampled_assets() -> None:
    # Well-sampled assets at 25 % to 33 %: the raw 67 % would top them all.
    lucky = sample("c", 2, 3)
    steady = [sample("c", 2500 + 100 * i, 10_000) for i in range(9)]
    by_default = {s.asset_id: s for s in score_assets(WILSON, [lucky, *steady])}
    assert by_default[lucky.asset_id].concept == "perf:insufficient-data"
    # Even with no minimum sample, the Wilson bound (about 0.21) ranks it below every one.
    spec = RuleSpec("rate", 1, BANDS, "perf:insufficient-data", smoothing="wilson")
    scores = {s.asset_id: s for s in score_assets(spec, [lucky, *steady])}
    assert scores[lucky.asset_id].kpi == pytest.approx(2 / 3)
    assert smoothed(scores, lucky) < min(smoothed(scores, a) for a in steady)
    assert scores[lucky.asset_id].concept == "perf:bottom-25"
    assert scores[steady[-1].asset_id].concept == "perf:top-10"


def test_bayes_pulls_a_small_sample_towards_the_cohort_rate() -> None:
    spec = RuleSpec("rate", 1, BANDS, "x", smoothing="bayes", prior_weight=100)
    lucky = sample("c", 2, 3)
    steady = [sample("c", 2500 + 100 * i, 10_000) for i in range(9)]
    scores = {s.asset_id: s for s in score_assets(spec, [lucky, *steady])}
    pooled = (2 + sum(a.numerator for a in steady)) / (3 + 90_000)
    assert smoothed(scores, lucky) == pytest.approx((2 + 100 * pooled) / 103)
    assert smoothed(scores, lucky) < smoothed(scores, steady[-1])
    assert scores[lucky.asset_id].concept not in ("perf:top-10", "perf:top-25")
    assert bayes_average(0, 0, 0.05, 10) == pytest.approx(0.05)


def test_below_the_minimum_sample_an_asset_is_insufficient_and_not_ranked() -> None:
    thin = sample("c", 50, 99)
    ranked = [sample("c", 5 * i, 1000) for i in range(1, 5)]
    scores = {s.asset_id: s for s in score_assets(WILSON, [thin, *ranked])}
    assert scores[thin.asset_id].concept == "perf:insufficient-data"
    assert scores[thin.asset_id].percentile is None
    assert scores[thin.asset_id].kpi == pytest.approx(50 / 99)
    # The cohort counts the ranked assets only; ranks run 0..100 over them.
    assert {s.cohort_size for s in scores.values()} == {4}
    assert [scores[a.asset_id].percentile for a in ranked] == pytest.approx(
        [0, 100 / 3, 200 / 3, 100]
    )


def test_a_count_needs_days_with_data_and_is_ranked_unsmoothed() -> None:
    spec = RuleSpec("count", 7, BANDS, "perf:insufficient-data")
    few_days = AssetSample(uuid.uuid4(), "c", 1_000_000, 0, 6)
    low = AssetSample(uuid.uuid4(), "c", 10, 0, 7)
    high = AssetSample(uuid.uuid4(), "c", 20, 0, 28)
    scores = {s.asset_id: s for s in score_assets(spec, [few_days, low, high])}
    assert scores[few_days.asset_id].concept == "perf:insufficient-data"
    assert (scores[high.asset_id].smoothed, scores[high.asset_id].concept) == (20, "perf:top-10")
    assert scores[low.asset_id].concept == "perf:bottom-25"


def test_ties_share_the_mid_rank_of_their_group() -> None:
    a, b, c, d = (sample("c", k, 1000) for k in (10, 20, 20, 30))
    scores = {s.asset_id: s for s in score_assets(WILSON, [a, b, c, d])}
    assert scores[b.asset_id].percentile == scores[c.asset_id].percentile == pytest.approx(50)
    assert (scores[a.asset_id].percentile, scores[d.asset_id].percentile) == (0, 100)


def test_a_cohort_of_equals_and_a_lone_asset_sit_in_the_middle() -> None:
    equals = [sample("same", 10, 1000) for _ in range(5)]
    alone = sample("alone", 999, 1000)
    scores = score_assets(WILSON, [*equals, alone])
    assert {(s.percentile, s.concept) for s in scores} == {(50, "perf:middle")}


def test_cohorts_are_ranked_apart() -> None:
    low_cohort = [sample("low", k, 1000) for k in (1, 2, 3)]
    high_cohort = [sample("high", k, 1000) for k in (100, 200, 300)]
    scores = {s.asset_id: s for s in score_assets(WILSON, [*low_cohort, *high_cohort])}
    assert scores[low_cohort[-1].asset_id].concept == "perf:top-10"
    assert scores[high_cohort[0].asset_id].concept == "perf:bottom-25"
    assert {s.cohort_size for s in scores.values()} == {3}


@pytest.mark.parametrize(
    ("percentile", "concept"),
    [
        (Fraction(0), "perf:bottom-25"),
        (Fraction(2499, 100), "perf:bottom-25"),
        (Fraction(25), "perf:middle"),
        (Fraction(75), "perf:top-25"),
        (Fraction(90), "perf:top-10"),
        (Fraction(100), "perf:top-10"),
    ],
)
def test_bands_hold_from_inclusive_to_exclusive_and_the_top_holds_100(
    percentile: Fraction, concept: str
) -> None:
    assert band_of(BANDS, percentile) == concept


def test_a_band_edge_is_exact() -> None:
    # 11 assets: the 10th best is at exactly 90 (9/10 of the way), never 89.999...
    assets = [sample("c", k, 1000) for k in range(11)]
    scores = score_assets(WILSON, assets)
    assert scores[9].percentile == 90
    assert scores[9].concept == "perf:top-10"
    assert scores[8].concept == "perf:top-25"


def test_the_wilson_lower_bound() -> None:
    assert wilson_lower_bound(0, 0, 0.95) == 0
    # Known value: 2 of 3 at 95 % gives about 0.2077.
    assert wilson_lower_bound(2, 3, 0.95) == pytest.approx(0.2077, abs=1e-4)
    assert wilson_lower_bound(500, 10_000, 0.95) == pytest.approx(0.0459, abs=1e-4)
    assert wilson_lower_bound(5, 3, 0.95) <= 1  # a rate above 1 is clamped for the bound


def test_cohort_keys() -> None:
    concepts = {"asset-type": ["asset-type:image"], "channel": ["channel:web", "channel:email"]}
    assert cohort_key(["asset-type", "channel"], concepts) == (
        "asset-type:image/channel:email+channel:web"
    )
    assert cohort_key(["asset-type", "campaign-type"], concepts) == "asset-type:image/none"
    assert cohort_key([], concepts) == "all"


def test_a_rule_spec_from_a_stored_rule() -> None:
    tiers = [{"concept": "perf:all", "from_percentile": 0, "to_percentile": 100}]
    rate = {"type": "rate", "numerator": "key_events", "denominator": "views"}
    spec = rule_spec(kpi=rate, smoothing=None, min_sample=5, tiers=tiers, insufficient_concept="i")
    assert (spec.smoothing, spec.confidence) == ("wilson", 0.95)
    bayes = rule_spec(
        kpi=rate,
        smoothing={"method": "bayes", "prior_weight": 50},
        min_sample=5,
        tiers=tiers,
        insufficient_concept="i",
    )
    assert (bayes.smoothing, bayes.prior_weight) == ("bayes", 50)
    count = rule_spec(
        kpi={"type": "count", "metric": "revenue"},
        smoothing=None,
        min_sample=5,
        tiers=tiers,
        insufficient_concept="i",
    )
    assert (count.kpi_type, count.smoothing) == ("count", None)
