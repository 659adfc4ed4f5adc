"""The pure core of metrics: reading analytics rows and won deals, and splitting amounts."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncbridge.metrics.facts import (
    LinkedRecord,
    WonDeal,
    analytics_values,
    compute_facts,
    credit,
    is_analytics_row,
    split_evenly,
    won_deal,
)


@given(
    cents=st.integers(min_value=-(10**12), max_value=10**12),
    parts=st.integers(min_value=1, max_value=500),
)
def test_an_even_split_adds_up_to_the_amount_in_whole_cents(cents: int, parts: int) -> None:
    amount = Decimal(cents) / 100
    shares = split_evenly(amount, parts)
    assert len(shares) == parts
    assert sum(shares) == amount
    assert all(s == s.quantize(Decimal("0.01")) for s in shares)
    assert max(shares) - min(shares) <= Decimal("0.01")


def test_the_leftover_cents_go_to_the_first_assets_by_id() -> None:
    ids = sorted((uuid.uuid4() for _ in range(3)), key=str)
    shares = [credit(Decimal("100.00"), a, ids, "even") for a in ids]
    assert shares == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    assert credit(Decimal("100.00"), ids[2], ids, "full") == Decimal("100.00")


def test_an_analytics_row_reads_ga4_numbers_and_days_in_either_form() -> None:
    row = {
        "date": "20261128",
        "screenPageViews": "288",
        "sessions": 268,
        "keyEvents": "17",
        "eventCount": 662,
        "totalRevenue": "2176.34",
        "pagePath": "/lp/x.jpg",
    }
    day, values = analytics_values(row) or (None, {})
    assert day == date(2026, 11, 28)
    assert values == {
        "views": Decimal(288),
        "sessions": Decimal(268),
        "key_events": Decimal(17),
        "events": Decimal(662),
        "revenue": Decimal("2176.34"),
    }
    assert analytics_values({"date": "2026-11-28", "sessions": "n/a", "keyEvents": True}) == (
        date(2026, 11, 28),
        {},
    )
    assert analytics_values({"screenPageViews": 5}) is None


@pytest.mark.parametrize(
    ("connector", "stream", "data", "expected"),
    [
        (
            "hubspot",
            "deals",
            {"amount": "1234.50", "closedate": "2026-08-09T00:00:00Z", "hs_is_closed_won": "true"},
            WonDeal(date(2026, 8, 9), Decimal("1234.50")),
        ),
        (
            "hubspot",
            "deals",
            {"amount": 10, "closedate": "2026-08-09T00:00:00+00:00", "dealstage": "closedwon"},
            WonDeal(date(2026, 8, 9), Decimal(10)),
        ),
        (
            "hubspot",
            "deals",
            {"amount": 10, "closedate": "2026-08-09", "dealstage": "closedlost"},
            None,
        ),
        (
            "hubspot",
            "deals",
            {"amount": 10, "closedate": "2026-12-24", "dealstage": "qualifiedtobuy"},
            None,
        ),
        (
            "hubspot",
            "deals",
            {"amount": None, "closedate": "2026-08-09", "hs_is_closed_won": True},
            None,
        ),
        (
            "salesforce",
            "Opportunity",
            {"Amount": 16941.0, "CloseDate": "2026-04-02", "IsWon": True},
            WonDeal(date(2026, 4, 2), Decimal("16941.0")),
        ),
        (
            "salesforce",
            "Opportunity",
            {"Amount": 5.0, "CloseDate": "2026-04-02", "IsWon": False},
            None,
        ),
        ("salesforce", "Campaign", {"Amount": 5.0, "CloseDate": "2026-04-02", "IsWon": True}, None),
    ],
)
def test_only_won_deals_count(
    connector: str, stream: str, data: dict[str, object], expected: WonDeal | None
) -> None:
    assert won_deal(connector, stream, data) == expected


def test_a_deal_credits_each_dam_connections_assets_separately() -> None:
    bynder, cloudinary, hubspot = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    b1, b2, c1 = sorted((uuid.uuid4() for _ in range(3)), key=str)
    deal = uuid.uuid4()
    data = {"amount": "10.00", "closedate": "2026-08-09", "dealstage": "closedwon"}
    linked = [LinkedRecord(a, deal, hubspot, "hubspot", "deals", data) for a in (b1, b2, c1)]

    facts, sources = compute_facts(
        linked,
        asset_connections={b1: bynder, b2: bynder, c1: cloudinary},
        sharing={(deal, bynder): [b1, b2], (deal, cloudinary): [c1]},
        attribution="even",
    )

    revenue = {f.asset_id: f.value for f in facts if f.metric == "influenced_revenue"}
    assert revenue == {b1: Decimal("5.00"), b2: Decimal("5.00"), c1: Decimal("10.00")}
    assert {f.asset_id: f.value for f in facts if f.metric == "influenced_deals"} == {
        b1: 1,
        b2: 1,
        c1: 1,
    }
    assert {(s.asset_id, s.record_id) for s in sources} == {(b1, deal), (b2, deal), (c1, deal)}


def test_csv_exports_with_the_analytics_role_count_as_analytics_rows() -> None:
    asset, dam, csv = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    row = {"date": "2026-11-02", "views": "120", "sessions": 30, "key_events": "4"}
    linked = [
        LinkedRecord(asset, uuid.uuid4(), csv, "csv", "web", {**row, "_role": "analytics"}),
        # The same numbers in a CRM export are no analytics row.
        LinkedRecord(asset, uuid.uuid4(), csv, "csv", "deals", {**row, "_role": "crm"}),
    ]
    assert is_analytics_row("csv", linked[0].data)
    assert not is_analytics_row("csv", linked[1].data)
    assert is_analytics_row("ga4", {})

    facts, sources = compute_facts(
        linked, asset_connections={asset: dam}, sharing={}, attribution="even"
    )

    assert {(f.metric, f.value, f.records) for f in facts} == {
        ("views", Decimal(120), 1),
        ("sessions", Decimal(30), 1),
        ("key_events", Decimal(4), 1),
    }
    assert {f.day for f in facts} == {date(2026, 11, 2)}
    assert [s.record_id for s in sources] == [linked[0].record_id]
