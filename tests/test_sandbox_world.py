"""The sandbox world: determinism, the DAM values it already promised, the CRM and analytics
views of it, and the ground truth a scorer is tested against."""

from __future__ import annotations

import hashlib
import itertools
import statistics
import uuid
from collections import defaultdict
from dataclasses import astuple
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncbridge.sandbox.world import (
    CHANNEL_UTM,
    DEAL_SIZE,
    DEAL_STAGES,
    LATE_DAYS,
    LIFECYCLE_STAGES,
    AnalyticsRow,
    Deal,
    World,
)

CENT = Decimal("0.01")


def _live(world: World, campaign_key: str, day: date) -> bool:
    c = world.campaign(campaign_key)
    return c.start.date() <= day <= c.end.date() + timedelta(days=30)


def _window_totals(world: World) -> dict[str, tuple[int, int]]:
    """Asset id -> (views, key events) over the analytics window, at revision 0."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for day in world.analytics_days:
        for row in world.analytics_rows(day):
            totals[row.asset_id][0] += row.views
            totals[row.asset_id][1] += row.key_events
    return {k: (v[0], v[1]) for k, v in totals.items()}


def _check_row(world: World, row: AnalyticsRow) -> None:
    asset = world.asset(row.asset_index)
    campaign = world.campaign(asset.campaign_key)
    assert row.asset_id == asset.id == world.utm_content(asset)
    assert row.page_path == world.page_path(asset)
    assert row.campaign_key == asset.campaign_key
    assert row.source_medium == f"{campaign.utm_source} / {campaign.utm_medium}"
    assert _live(world, row.campaign_key, row.date)
    assert 1 <= row.sessions <= row.views <= row.event_count
    assert 0 <= row.key_events <= row.views
    assert row.revenue >= 0
    assert row.revenue == row.revenue.quantize(CENT)


# --- determinism ----------------------------------------------------------------------------


def test_same_seed_builds_the_same_world() -> None:
    one, two = World(seed=42, assets_count=300), World(seed=42, assets_count=300)
    assert one.campaigns == two.campaigns
    assert one.companies == two.companies
    assert one.contacts == two.contacts
    assert one.deals == two.deals
    assert one.outperformers() == two.outperformers()
    day = one.analytics_days[-20]
    assert one.analytics_rows(day) == two.analytics_rows(day)


def test_another_seed_builds_another_world() -> None:
    one, two = World(seed=42, assets_count=300), World(seed=43, assets_count=300)
    assert [c.id for c in one.campaigns] != [c.id for c in two.campaigns]
    assert [d.amount for d in one.deals] != [d.amount for d in two.deals]
    assert [c.email for c in one.contacts] != [c.email for c in two.contacts]
    assert one.outperformers() != two.outperformers()


def test_a_days_rows_do_not_depend_on_what_was_drawn_before() -> None:
    fresh, busy = World(seed=5, assets_count=400), World(seed=5, assets_count=400)
    day = fresh.analytics_days[40]
    for other in busy.analytics_days[::7]:
        busy.analytics_rows(other, revision=2)
    assert busy.analytics_rows(day) == fresh.analytics_rows(day)


def test_rows_handed_out_are_copies() -> None:
    world = World(seed=42, assets_count=200)
    day = world.analytics_days[50]
    first = world.analytics_rows(day)
    assert first
    first.clear()
    assert world.analytics_rows(day)


# --- the DAM values existing simulators depend on -------------------------------------------


def test_asset_values_are_unchanged() -> None:
    world = World(seed=42)
    asset = world.asset(7)
    assert asset.id == "4db57ecf-6a01-4b4f-8a52-f1490438d016"
    assert asset.name == "holiday-campaign-2025-0007_hero-banner_000007"
    assert (asset.asset_type, asset.extension, asset.folder) == ("image", "jpg", "Events")
    assert asset.tags == ("black-friday", "hero-banner", "instagram", "na")
    assert (asset.width, asset.height, asset.file_size) == (1200, 628, 45552023)
    assert asset.created_at == datetime(2026, 2, 12, 1, 44, tzinfo=UTC)
    assert asset.modified_at == datetime(2026, 3, 8, 8, 44, tzinfo=UTC)
    # every field of every asset, as the code before the CRM part computed them
    digest = hashlib.sha256()
    for each in world.assets():
        digest.update(repr(astuple(each)).encode())
    assert digest.hexdigest() == "b59625e3d488e6e6a582e4da75434e15844bf6c5696d05847a6ed8dca912ebe5"


def test_campaign_values_are_unchanged() -> None:
    world = World(seed=42)
    assert len(world.campaigns) == 11
    c = world.campaigns[3]
    assert c.key == "webinar-series-2025-0003"
    assert c.name == "Webinar Series 2025 #3"
    assert (c.channel, c.region, c.product, c.audience) == (
        "linkedin",
        "latam",
        "commerce-suite",
        "mid-market",
    )
    assert c.start == datetime(2026, 6, 12, 9, 0, tzinfo=UTC)
    digest = hashlib.sha256()
    for each in world.campaigns:
        old = (each.key, each.name, each.channel, each.region, each.product, each.audience)
        digest.update(repr((*old, each.start)).encode())
    assert digest.hexdigest() == "1ba00afd7d70bca079650467abe410af9b2e76e29e24ac428094c376e07d4280"


# --- campaigns --------------------------------------------------------------------------------


def test_campaigns_carry_crm_fields() -> None:
    world = World(seed=42, assets_count=400)
    for i, c in enumerate(world.campaigns):
        assert c.index == i
        assert uuid.UUID(c.id).version == 4
        assert timedelta(days=14) <= c.end - c.start <= timedelta(days=60)
        assert c.modified_at >= c.start
        assert c.budget > 0
        assert c.budget == c.budget.quantize(CENT)
        assert (c.utm_source, c.utm_medium) == CHANNEL_UTM[c.channel]
        assert c.utm_campaign == c.key
        assert world.campaign(c.key) is c
    assert len({c.id for c in world.campaigns}) == len(world.campaigns)


def test_an_unknown_campaign_is_a_key_error() -> None:
    world = World(seed=42, assets_count=40)
    with pytest.raises(KeyError):
        world.campaign("no-such-campaign")
    with pytest.raises(KeyError):
        world.campaign_assets("no-such-campaign")
    with pytest.raises(KeyError):
        world.campaign_members("no-such-campaign")


def test_campaign_assets_are_the_assets_naming_the_campaign() -> None:
    world = World(seed=42, assets_count=230)
    seen: list[int] = []
    for c in world.campaigns:
        used = world.campaign_assets(c.key)
        assert [a.index for a in used] == sorted(a.index for a in used)
        assert all(a.campaign_key == c.key for a in used)
        seen.extend(a.index for a in used)
    assert sorted(seen) == list(range(world.assets_count))


def test_asset_links_carry_the_asset_id_and_land_on_the_campaign_page() -> None:
    world = World(seed=42, assets_count=50)
    asset = world.asset(12)
    assert world.utm_content(asset) == asset.id
    assert world.page_path(asset) == f"/lp/{asset.campaign_key}/{asset.filename}"


# --- CRM ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assets", "companies", "contacts", "deals"), [(200, 8, 50, 20), (20, 5, 10, 10)]
)
def test_crm_collection_sizes(assets: int, companies: int, contacts: int, deals: int) -> None:
    world = World(seed=42, assets_count=assets)
    assert (len(world.companies), len(world.contacts), len(world.deals)) == (
        companies,
        contacts,
        deals,
    )


def test_deals_refer_to_existing_companies_contacts_and_campaigns() -> None:
    world = World(seed=42, assets_count=600)
    contacts = {c.id: c for c in world.contacts}
    companies = {c.id for c in world.companies}
    for deal in world.deals:
        assert deal.company_id in companies
        assert 1 <= len(deal.contact_ids) <= 4
        assert len(set(deal.contact_ids)) == len(deal.contact_ids)
        assert all(cid in contacts for cid in deal.contact_ids)
        assert world.campaign(deal.campaign_key).key == deal.campaign_key
        assert world.deal(deal.id) is deal
        assert deal in world.campaign_deals(deal.campaign_key)


def test_deal_stage_agrees_with_its_flags_and_dates() -> None:
    world = World(seed=42, assets_count=600)
    for deal in world.deals:
        assert deal.stage in DEAL_STAGES
        assert deal.is_closed == (deal.stage in ("closedwon", "closedlost"))
        assert deal.is_won == (deal.stage == "closedwon")
        if deal.is_closed:
            assert deal.close_date <= world.analytics_end
        else:
            assert deal.close_date >= world.analytics_end
        assert deal.currency == "USD"
        assert deal.amount > 0
        assert deal.amount == deal.amount.quantize(CENT)
        assert deal.created_at <= deal.modified_at <= world.now
        assert world.campaign(deal.campaign_key).start <= deal.created_at
    stages = {d.stage for d in world.deals}
    assert {"closedwon", "closedlost"} <= stages
    assert stages - {"closedwon", "closedlost"}


def test_contacts_refer_to_companies_and_their_first_touch_campaign() -> None:
    world = World(seed=42, assets_count=600)
    companies = {c.id: c for c in world.companies}
    for contact in world.contacts:
        assert contact.lifecycle_stage in LIFECYCLE_STAGES
        assert contact.email.endswith("@" + companies[contact.company_id].domain)
        assert contact in world.campaign_members(contact.campaign_key)
        assert world.campaign(contact.campaign_key).start <= contact.created_at
        assert contact.created_at <= contact.modified_at <= world.now
        assert world.contact(contact.id) is contact
    assert sum(len(world.campaign_members(c.key)) for c in world.campaigns) == len(world.contacts)
    assert len({c.email for c in world.contacts}) == len(world.contacts)
    assert len({c.name for c in world.companies}) == len(world.companies)
    assert len({c.domain for c in world.companies}) == len(world.companies)


def test_contacts_on_won_deals_are_customers() -> None:
    world = World(seed=42, assets_count=600)
    won = {cid for d in world.deals if d.is_won for cid in d.contact_ids}
    in_open = {cid for d in world.deals if not d.is_closed for cid in d.contact_ids}
    assert won
    for contact in world.contacts:
        if contact.id in won:
            assert contact.lifecycle_stage == "customer"
        elif contact.id in in_open:
            assert contact.lifecycle_stage == "opportunity"
        else:
            assert contact.lifecycle_stage != "customer"


def _deals_by_tops(world: World) -> dict[int, list[list[Deal]]]:
    """Campaigns' deal lists, keyed by how many outperforming assets they used (2 = 2 or more)."""
    top = world.outperformers()
    grouped: dict[int, list[list[Deal]]] = defaultdict(list)
    for c in world.campaigns:
        tops = sum(1 for a in world.campaign_assets(c.key) if a.id in top)
        grouped[min(tops, 2)].append(world.campaign_deals(c.key))
    return grouped


def test_campaigns_with_outperforming_assets_win_more_and_larger_deals() -> None:
    world = World(seed=42, assets_count=5000)
    grouped = _deals_by_tops(world)

    def mean_deals(tops: int) -> float:
        return statistics.mean(len(deals) for deals in grouped[tops])

    def win_rate(tops: int) -> float:
        closed = [d for deals in grouped[tops] for d in deals if d.is_closed]
        return sum(d.is_won for d in closed) / len(closed)

    def won_per_campaign(tops: int) -> Decimal:
        won = [sum((d.amount for d in deals if d.is_won), Decimal(0)) for deals in grouped[tops]]
        return sum(won, Decimal(0)) / len(won)

    def won_size(tops: int) -> float:
        """Won amounts relative to the typical deal of the campaign's audience."""
        sizes = [
            float(d.amount) / DEAL_SIZE[world.campaign(d.campaign_key).audience]
            for deals in grouped[tops]
            for d in deals
            if d.is_won
        ]
        return statistics.mean(sizes)

    # by margins far beyond what uniform draws give by chance
    assert 2 * mean_deals(0) < mean_deals(1)
    assert 1.5 * mean_deals(1) < mean_deals(2)
    assert win_rate(0) + 0.15 < win_rate(2)
    assert win_rate(1) + 0.15 < win_rate(2)
    assert won_per_campaign(0) < won_per_campaign(1) < won_per_campaign(2)
    assert won_size(0) + 0.3 < won_size(2)


# --- analytics ----------------------------------------------------------------------------------


def test_the_window_is_the_ninety_days_ending_today() -> None:
    world = World(seed=42, assets_count=20)
    days = world.analytics_days
    assert len(days) == 90
    assert days[-1] == world.analytics_end == date(2026, 11, 30)
    assert all(b - a == timedelta(days=1) for a, b in itertools.pairwise(days))


def test_rows_cover_exactly_the_live_assets_of_a_day() -> None:
    world = World(seed=42, assets_count=200)
    assets = world.assets()
    for day in world.analytics_days[::9]:
        rows = world.analytics_rows(day)
        assert [r.asset_index for r in rows] == sorted({r.asset_index for r in rows})
        assert {r.asset_index for r in rows} == {
            a.index for a in assets if _live(world, a.campaign_key, day)
        }
        for row in rows:
            assert row.date == day
            _check_row(world, row)


def test_no_rows_outside_the_window() -> None:
    world = World(seed=42, assets_count=200)
    assert world.analytics_rows(world.analytics_end + timedelta(days=1)) == []
    assert world.analytics_rows(world.analytics_days[0] - timedelta(days=1)) == []


def test_a_negative_revision_is_refused() -> None:
    with pytest.raises(ValueError, match="revision"):
        World(seed=42, assets_count=20).analytics_rows(date(2026, 11, 30), revision=-1)


def test_every_observed_asset_gets_at_least_500_views() -> None:
    world = World(seed=42, assets_count=400)
    totals = _window_totals(world)
    observed = {world.asset(i).id for i in range(400) if world.truth(world.asset(i).id).live_days}
    assert set(totals) == observed
    assert min(views for views, _ in totals.values()) >= 500


def test_late_days_only_grow_with_revision() -> None:
    world = World(seed=42, assets_count=600)
    for age in range(LATE_DAYS):
        day = world.analytics_end - timedelta(days=age)
        revisions = [world.analytics_rows(day, revision=r) for r in range(6)]
        assert revisions[0]
        for older, newer in itertools.pairwise(revisions):
            assert [r.asset_id for r in older] == [r.asset_id for r in newer]
            for a, b in zip(older, newer, strict=True):
                assert b.views >= a.views
                assert b.sessions >= a.sessions
                assert b.event_count >= a.event_count
                assert b.key_events >= a.key_events
                assert b.revenue >= a.revenue
                _check_row(world, b)
        assert sum(r.views for r in revisions[-1]) > sum(r.views for r in revisions[0])


def test_older_days_never_change() -> None:
    world = World(seed=42, assets_count=600)
    for day in (world.analytics_end - timedelta(days=LATE_DAYS), world.analytics_days[10]):
        settled = world.analytics_rows(day)
        assert settled
        assert world.analytics_rows(day, revision=7) == settled


# --- ground truth -----------------------------------------------------------------------------


def test_tiers_sit_where_their_names_say() -> None:
    world = World(seed=42, assets_count=1000)
    for asset in world.assets():
        truth = world.truth(asset.id)
        assert truth.asset_index == asset.index
        assert truth.cohort == f"{asset.asset_type}/{asset.channel}"
        if truth.tier == "top":
            assert truth.ctr >= 3 * truth.cohort_median
        elif truth.tier == "bottom":
            assert truth.ctr <= truth.cohort_median / 3
        else:
            assert truth.cohort_median / 3 < truth.ctr < 3 * truth.cohort_median
    top, bottom = world.outperformers(), world.underperformers()
    assert 0.02 < len(top) / 1000 < 0.08
    assert 0.02 < len(bottom) / 1000 < 0.08


def test_top_assets_observably_beat_bottom_assets_of_their_cohort() -> None:
    world = World(seed=42, assets_count=2000)
    totals = _window_totals(world)
    rates: dict[tuple[str, str], list[float]] = defaultdict(list)
    for asset_id, (views, key_events) in totals.items():
        truth = world.truth(asset_id)
        rates[(truth.cohort, truth.tier)].append(key_events / views)
    compared = 0
    for (cohort, tier), top_rates in rates.items():
        bottom_rates = rates.get((cohort, "bottom"), [])
        if tier == "top" and bottom_rates:
            assert min(top_rates) > max(bottom_rates)
            compared += len(top_rates) * len(bottom_rates)
    assert compared >= 10


def test_outperformers_and_underperformers_at_the_default_size() -> None:
    world = World(seed=42, assets_count=200)
    top, bottom = world.outperformers(), world.underperformers()
    assert top
    assert bottom
    assert not top & bottom
    assert any(world.truth(a).live_days for a in top)
    assert any(world.truth(a).live_days for a in bottom)
    assert all(world.truth(a).tier == "top" for a in top)


def test_unknown_asset_has_no_truth() -> None:
    with pytest.raises(KeyError):
        World(seed=42, assets_count=20).truth("not-an-asset")


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**31),
    assets=st.integers(min_value=20, max_value=160),
    day_index=st.integers(min_value=0, max_value=89),
)
def test_invariants_hold_for_any_seed(seed: int, assets: int, day_index: int) -> None:
    world = World(seed=seed, assets_count=assets)
    top, bottom = world.outperformers(), world.underperformers()
    assert top
    assert bottom
    assert not top & bottom
    for asset_id in top:
        truth = world.truth(asset_id)
        assert truth.ctr >= 3 * truth.cohort_median
    contacts = {c.id for c in world.contacts}
    companies = {c.id for c in world.companies}
    for deal in world.deals:
        assert deal.company_id in companies
        assert 1 <= len(deal.contact_ids) <= 4
        assert set(deal.contact_ids) <= contacts
    for row in world.analytics_rows(world.analytics_days[day_index], revision=day_index % 3):
        _check_row(world, row)


def test_a_days_row_count_is_known_without_drawing_the_rows() -> None:
    world = World(seed=7, assets_count=300)
    counts = [world.analytics_row_count(day) for day in world.analytics_days]
    assert counts == [len(world.analytics_rows(day)) for day in world.analytics_days]
    assert sum(counts) > len(world.analytics_days)
