"""`GET /v1/insights`: performance grouped by taxonomy facets, over rows the tests insert.

The taxonomy is made through the API; assets, their classifications and their daily metric
facts are written straight into the store (they come from syncs and the metrics job in the
product). Every expected figure is worked out here from the inserted rows, with the standard
library's ``statistics`` (quantiles with linear interpolation: ``method="inclusive"``).
"""

from __future__ import annotations

import csv
import io
import statistics
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.insights.examples import INSIGHTS_EXAMPLE
from syncbridge.insights.schemas import Insights
from syncbridge.models import Asset, Classification, Concept, Connection, MetricFact, utcnow
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.conftest import without_nulls

pytestmark = [pytest.mark.embedded_worker(False), pytest.mark.usefixtures("taxonomy")]

#: The test taxonomy: scheme -> (concept key, broader keys).
TAXONOMY: dict[str, list[tuple[str, list[str]]]] = {
    "channel": [
        ("channel:paid", []),
        ("channel:paid-social", ["channel:paid"]),
        ("channel:linkedin", ["channel:paid-social"]),
        ("channel:meta", ["channel:paid-social"]),
        ("channel:email", []),
    ],
    "asset-type": [
        ("asset:image", []),
        ("asset:banner", ["asset:image"]),
        ("asset:video", []),
    ],
    "region": [("region:emea", [])],
}
#: A day inside every window the tests ask for.
DAY = date(2026, 11, 10)
WINDOW = {"from": "2026-11-01", "to": "2026-11-30"}


@dataclass
class Seeded:
    """What a test inserted: asset ids by name, and per asset its (views, key events)."""

    ids: dict[str, uuid.UUID] = field(default_factory=dict)
    totals: dict[str, tuple[int, int]] = field(default_factory=dict)
    dam: uuid.UUID | None = None


async def make_taxonomy(client: httpx.AsyncClient, editor: dict[str, str]) -> None:
    for scheme, concepts in TAXONOMY.items():
        made = await client.post(
            "/v1/taxonomy/schemes", json={"key": scheme, "title": scheme}, headers=editor
        )
        assert made.status_code == 201, made.text
        for key, broader in concepts:
            label = key.split(":")[1].replace("-", " ").capitalize()
            body = {"scheme": scheme, "key": key, "pref_label": {"en": label}, "broader": broader}
            made = await client.post("/v1/taxonomy/concepts", json=body, headers=editor)
            assert made.status_code == 201, made.text


@pytest.fixture
async def taxonomy(client: httpx.AsyncClient, editor: dict[str, str]) -> None:
    await make_taxonomy(client, editor)


@dataclass(frozen=True)
class Item:
    """One asset to insert: its concepts, and its facts as {day: (views, key events)}."""

    name: str
    concepts: tuple[str, ...]
    days: Mapping[date, tuple[int, int]]
    deleted: bool = False


def item(name: str, concepts: Iterable[str], views: int, events: int, **kw: Any) -> Item:
    return Item(name, tuple(concepts), {DAY: (views, events)}, **kw)


async def insert(app: FastAPI, items: Iterable[Item], seeded: Seeded | None = None) -> Seeded:
    """The items as Bynder assets with manual classifications and GA4 facts."""
    seeded = seeded or Seeded()

    async def work(session: AsyncSession) -> None:
        concepts: dict[str, uuid.UUID] = dict(
            (await session.execute(select(Concept.key, Concept.id))).all()
        )
        if seeded.dam is None:
            dam = Connection(connector_key="bynder", name="Bynder")
            session.add(dam)
            session.add(Connection(connector_key="ga4", name="GA4"))
            await session.flush()
            seeded.dam = dam.id
        ga4 = await session.scalar(select(Connection.id).where(Connection.connector_key == "ga4"))
        assert ga4 is not None
        for it in items:
            asset = Asset(
                connection_id=seeded.dam,
                stream="media",
                external_id=f"ext-{it.name}",
                data={"id": f"ext-{it.name}", "name": it.name},
                content_hash="0" * 64,
                deleted_at=utcnow() if it.deleted else None,
            )
            session.add(asset)
            await session.flush()
            seeded.ids[it.name] = asset.id
            for key in it.concepts:
                session.add(
                    Classification(asset_id=asset.id, concept_id=concepts[key], source="manual")
                )
            views_total = events_total = 0
            for day, (views, events) in it.days.items():
                for metric, value in (("views", views), ("key_events", events)):
                    session.add(
                        MetricFact(
                            asset_id=asset.id,
                            day=day,
                            metric=metric,
                            connection_id=ga4,
                            value=Decimal(value),
                            records=1,
                        )
                    )
                views_total, events_total = views_total + views, events_total + events
            seeded.totals[it.name] = (views_total, events_total)
        await session.flush()

    await in_unit_of_work(app.state.sessionmaker, work)
    return seeded


async def get(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/insights", params={**WINDOW, **params}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def groups(body: Mapping[str, Any]) -> dict[tuple[str, ...], dict[str, Any]]:
    return {tuple(c["key"] for c in g["concepts"]): g for g in body["groups"]}


def top_names(group: Mapping[str, Any]) -> list[str]:
    return [a["name"] for a in group["top_assets"]]


# --- grouping ------------------------------------------------------------------------------


async def test_one_scheme_groups_assets_by_concept_and_rolls_narrower_into_broader(
    app: FastAPI, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    seeded = await insert(
        app,
        [
            item("li-1", ["channel:linkedin"], 100, 1),
            item("li-2", ["channel:linkedin"], 200, 1),
            item("meta-1", ["channel:meta"], 300, 1),
            item("social", ["channel:paid-social"], 400, 1),
            item("mail", ["channel:email"], 50, 1),
            item("nowhere", ["asset:image"], 70, 1),
        ],
    )
    body = await get(client, viewer, group_by="channel", kpi="views")
    found = groups(body)
    views = {name: v for name, (v, _e) in seeded.totals.items()}
    expected = {
        ("channel:email",): ["mail"],
        ("channel:linkedin",): ["li-1", "li-2"],
        ("channel:meta",): ["meta-1"],
        ("channel:paid-social",): ["li-1", "li-2", "meta-1", "social"],
        ("channel:paid",): ["li-1", "li-2", "meta-1", "social"],
    }
    assert set(found) == set(expected)
    for key, names in expected.items():
        group = found[key]
        assert group["assets"] == len(names), key
        assert group["median"] == statistics.median(views[n] for n in names), key
        # Best first: a count ranks by its value.
        assert top_names(group) == sorted(names, key=lambda n: -views[n]), key
    assert [g["concepts"][0]["key"] for g in body["groups"]] == sorted(k[0] for k in expected)
    assert found[("channel:paid",)]["concepts"] == [
        {"scheme": "channel", "key": "channel:paid", "pref_label": "Paid"}
    ]
    assert (body["assets"], body["ungrouped"]) == (6, 1)
    assert body["overall"]["assets"] == 6
    assert body["kpi"] == {"type": "count", "metric": "views"}
    assert body["group_by"] == ["channel"]


async def test_an_asset_on_two_concepts_counts_in_each_and_once_in_their_broader(
    app: FastAPI, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    await insert(
        app,
        [
            item("both", ["channel:linkedin", "channel:meta"], 100, 1),
            item("li", ["channel:linkedin"], 300, 1),
            item("mixed", ["channel:meta", "channel:email"], 500, 1),
        ],
    )
    found = groups(await get(client, viewer, group_by="channel", kpi="views"))
    assert top_names(found[("channel:linkedin",)]) == ["li", "both"]
    assert top_names(found[("channel:meta",)]) == ["mixed", "both"]
    assert top_names(found[("channel:email",)]) == ["mixed"]
    assert top_names(found[("channel:paid-social",)]) == ["mixed", "li", "both"]
    assert found[("channel:paid-social",)]["median"] == 300


async def test_two_schemes_group_by_every_pair_of_concepts(
    app: FastAPI, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    await insert(
        app,
        [
            item("li-banner", ["channel:linkedin", "asset:banner"], 100, 10),
            item("li-video", ["channel:linkedin", "asset:video"], 100, 20),
            item("mail-image", ["channel:email", "asset:image"], 100, 30),
            item("mail-only", ["channel:email"], 100, 40),
        ],
    )
    body = await get(client, viewer, group_by="channel,asset-type", kpi="key_events/views")
    found = groups(body)
    social_images = found[("channel:paid-social", "asset:image")]
    assert top_names(social_images) == ["li-banner"]
    assert top_names(found[("channel:linkedin", "asset:banner")]) == ["li-banner"]
    assert top_names(found[("channel:paid", "asset:video")]) == ["li-video"]
    assert top_names(found[("channel:email", "asset:image")]) == ["mail-image"]
    assert ("channel:email", "asset:video") not in found
    # li-banner: 3 channels x (banner, image); li-video: 3 x (video); mail-image: 1.
    assert len(found) == 3 * 2 + 3 * 1 + 1
    assert [c["scheme"] for c in social_images["concepts"]] == ["channel", "asset-type"]
    assert social_images["median"] == pytest.approx(0.1)
    assert body["ungrouped"] == 1  # mail-only has no asset type
    assert body["overall"]["assets"] == 4
    # Groups are listed by their concept keys, scheme by scheme.
    keys = [tuple(c["key"] for c in g["concepts"]) for g in body["groups"]]
    assert keys == sorted(keys)


async def test_a_scheme_key_may_be_spelled_with_underscores(
    app: FastAPI, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    await insert(app, [item("b", ["channel:meta", "asset:banner"], 10, 1)])
    body = await get(client, viewer, group_by="channel,asset_type", kpi="views")
    assert body["group_by"] == ["channel", "asset-type"]
    assert ("channel:meta", "asset:banner") in groups(body)


async def test_a_broader_link_added_later_rolls_up_at_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    viewer: dict[str, str],
    editor: dict[str, str],
) -> None:
    await insert(app, [item("mail", ["channel:email"], 10, 1)])
    before = groups(await get(client, viewer, group_by="channel", kpi="views"))
    assert set(before) == {("channel:email",)}
    moved = await client.patch(
        "/v1/taxonomy/concepts/channel:email", json={"broader": ["channel:paid"]}, headers=editor
    )
    assert moved.status_code == 200, moved.text
    after = groups(await get(client, viewer, group_by="channel", kpi="views"))
    assert set(after) == {("channel:email",), ("channel:paid",)}


async def test_deleted_assets_and_other_connections_stay_out(
    app: FastAPI, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    seeded = await insert(
        app,
        [
            item("live", ["channel:meta"], 10, 1),
            item("gone", ["channel:meta"], 99, 1, deleted=True),
        ],
    )

    async def other_dam(session: AsyncSession) -> None:
        dam = Connection(connector_key="cloudinary", name="Cloudinary")
        session.add(dam)
        await session.flush()
        concept = await session.scalar(select(Concept.id).where(Concept.key == "channel:meta"))
        asset = Asset(
            connection_id=dam.id, stream="image", external_id="c", data={}, content_hash="0" * 64
        )
        session.add(asset)
        await session.flush()
        assert concept is not None
        session.add(Classification(asset_id=asset.id, concept_id=concept, source="manual"))

    await in_unit_of_work(app.state.sessionmaker, other_dam)
    everything = await get(client, viewer, group_by="channel", kpi="views", min_sample=0)
    assert everything["assets"] == 2
    assert groups(everything)[("channel:meta",)]["assets"] == 2
    only = await get(client, viewer, group_by="channel", kpi="views", connection_id=str(seeded.dam))
    assert only["connection_id"] == str(seeded.dam)
    assert only["assets"] == 1
    assert top_names(groups(only)[("channel:meta",)]) == ["live"]


# --- figures -------------------------------------------------------------------------------


def quartiles(values: list[float]) -> tuple[float, float, float]:
    p25, median, p75 = statistics.quantiles(values, n=4, method="inclusive")
    return p25, median, p75


async def test_median_and_spread_match_the_inserted_rows(
    app: FastAPI, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    rows = {  # name -> (views, key events) per day, over three days
        "a": [(100, 3), (50, 1), (0, 0)],
        "b": [(400, 10), (400, 12), (200, 3)],
        "c": [(30, 4), (0, 0), (70, 2)],
        "d": [(1000, 9), (1000, 11), (1000, 7)],
        "e": [(60, 6), (60, 6), (60, 7)],
        "f": [(250, 1), (250, 2), (250, 0)],
        "g": [(5, 0), (5, 1), (0, 0)],
    }
    days = [DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)]
    await insert(
        app,
        [Item(n, ("channel:meta",), dict(zip(days, r, strict=True))) for n, r in rows.items()],
    )
    views = {n: sum(v for v, _ in r) for n, r in rows.items()}
    events = {n: sum(e for _, e in r) for n, r in rows.items()}

    # A rate: key events per view, from 100 views on ("g" has 10).
    body = await get(client, viewer, group_by="channel", kpi="key_events/views", min_sample=100)
    group = groups(body)[("channel:meta",)]
    counted = [n for n in rows if views[n] >= 100]
    rates = sorted(events[n] / views[n] for n in counted)
    p25, median, p75 = quartiles(rates)
    assert (group["assets"], group["insufficient"]) == (len(counted), 1)
    assert group["median"] == pytest.approx(median)
    assert group["p25"] == pytest.approx(p25)
    assert group["p75"] == pytest.approx(p75)
    assert group["iqr"] == pytest.approx(p75 - p25)
    assert (group["min"], group["max"]) == (pytest.approx(rates[0]), pytest.approx(rates[-1]))
    assert group["mean"] == pytest.approx(statistics.fmean(rates))
    pooled = sum(events[n] for n in counted) / sum(views[n] for n in counted)
    assert group["pooled"] == pytest.approx(pooled)
    assert body["min_sample"] == 100

    # A count: views over the window; its sample is the days with data (every fact day).
    body = await get(client, viewer, group_by="channel", kpi="views", min_sample=3)
    group = groups(body)[("channel:meta",)]
    totals = sorted(float(views[n]) for n in rows)
    p25, median, p75 = quartiles(totals)
    assert (group["assets"], group["insufficient"]) == (7, 0)
    assert (group["median"], group["p25"], group["p75"]) == (median, p25, p75)
    assert group["pooled"] is None
    assert group["mean"] == pytest.approx(statistics.fmean(totals))


async def test_assets_below_the_minimum_sample_are_counted_apart(
    app: FastAPI, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    await insert(
        app,
        [
            item("big", ["channel:email"], 1000, 10),
            item("small", ["channel:email"], 20, 5),
            item("silent", ["channel:email"], 0, 0),
            Item("unmeasured", ("channel:email",), {}),
        ],
    )
    # By default an asset counts once it has any sample (a rate: a denominator above 0).
    group = groups(await get(client, viewer, group_by="channel"))[("channel:email",)]
    assert (group["assets"], group["insufficient"]) == (2, 2)
    group = groups(await get(client, viewer, group_by="channel", min_sample=100))[
        ("channel:email",)
    ]
    assert (group["assets"], group["insufficient"]) == (1, 3)
    assert group["median"] == pytest.approx(0.01)
    group = groups(await get(client, viewer, group_by="channel", min_sample=10**6))[
        ("channel:email",)
    ]
    assert (group["assets"], group["insufficient"], group["median"]) == (0, 4, None)
    assert group["top_assets"] == []


async def test_the_default_kpi_is_the_default_tag_rules(
    app: FastAPI, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    await insert(app, [item("x", ["channel:email"], 200, 5)])
    body = await get(client, viewer, group_by="channel")
    assert body["kpi"] == {"type": "rate", "numerator": "key_events", "denominator": "views"}
    assert groups(body)[("channel:email",)]["median"] == pytest.approx(0.025)


# --- top assets ----------------------------------------------------------------------------


async def test_top_assets_are_best_first_and_a_tiny_sample_does_not_top_a_steady_rate(
    app: FastAPI, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    seeded = await insert(
        app,
        [
            item("lucky", ["channel:meta"], 3, 2),  # 67 %, on 3 views
            item("steady", ["channel:meta"], 10_000, 2_500),  # 25 %
            item("good", ["channel:meta"], 2_000, 600),  # 30 %
            item("fair", ["channel:meta"], 5_000, 500),  # 10 %
            item("weak", ["channel:meta"], 8_000, 80),  # 1 %
            item("twin-a", ["channel:meta"], 1_000, 50),  # 5 %, smaller sample than twin-b
            item("twin-b", ["channel:meta"], 4_000, 200),  # 5 %
        ],
    )
    body = await get(client, viewer, group_by="channel", top=7)
    assert body["ranked_by"] == "wilson_lower_bound"
    group = groups(body)[("channel:meta",)]
    # Wilson bounds: good 0.280, steady 0.242, lucky 0.208, fair 0.092, twin-b 0.044 (the
    # same 5 % as twin-a, known on more views: 0.038), weak 0.008.
    expected = ["good", "steady", "lucky", "fair", "twin-b", "twin-a", "weak"]
    assert top_names(group) == expected
    first = group["top_assets"][0]
    assert first["id"] == str(seeded.ids["good"])
    assert first["external_id"] == "ext-good"
    assert first["connection"]["connector_key"] == "bynder"
    assert (first["value"], first["sample"]) == (0.3, 2_000)
    assert 0.28 < first["smoothed"] < 0.3
    # The group's figures still count every asset with a sample.
    assert group["max"] == pytest.approx(2 / 3)

    body = await get(client, viewer, group_by="channel", top=2)
    assert top_names(groups(body)[("channel:meta",)]) == ["good", "steady"]
    assert top_names(body["overall"]) == ["good", "steady"]


async def test_equal_values_rank_the_larger_sample_first(
    app: FastAPI, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    days = [DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)]
    await insert(
        app,
        [
            Item("one-day", ("channel:meta",), {days[0]: (300, 0)}),
            Item("three-days", ("channel:meta",), dict.fromkeys(days, (100, 0))),
            Item("less", ("channel:meta",), {days[0]: (299, 0)}),
        ],
    )
    body = await get(client, viewer, group_by="channel", kpi="views")
    assert body["ranked_by"] == "value"
    group = groups(body)[("channel:meta",)]
    assert top_names(group) == ["three-days", "one-day", "less"]
    assert [a["sample"] for a in group["top_assets"]] == [3, 1, 1]


async def test_a_rate_that_is_no_proportion_ranks_by_its_value(
    app: FastAPI, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    # views per key event: above 1, so no Wilson interval applies.
    await insert(
        app,
        [
            item("tiny", ["channel:meta"], 90, 1),
            item("big", ["channel:meta"], 8_000, 100),
            item("mid", ["channel:meta"], 500, 10),
        ],
    )
    body = await get(client, viewer, group_by="channel", kpi="views/key_events")
    assert body["ranked_by"] == "value"
    group = groups(body)[("channel:meta",)]
    assert top_names(group) == ["tiny", "big", "mid"]
    assert [a["smoothed"] for a in group["top_assets"]] == [None, None, None]


# --- the window ----------------------------------------------------------------------------


async def test_only_facts_inside_the_window_count(
    app: FastAPI, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    days = {
        date(2026, 10, 31): (1000, 0),
        date(2026, 11, 1): (10, 0),
        date(2026, 11, 30): (20, 0),
        date(2026, 12, 1): (4000, 0),
    }
    await insert(app, [Item("edge", ("channel:email",), days)])
    body = await get(client, viewer, group_by="channel", kpi="views")
    assert (body["from"], body["to"]) == ("2026-11-01", "2026-11-30")
    assert groups(body)[("channel:email",)]["median"] == 30
    one_day = await get(
        client,
        viewer,
        group_by="channel",
        kpi="views",
        **{"from": "2026-12-01", "to": "2026-12-01"},
    )
    assert groups(one_day)[("channel:email",)]["median"] == 4000


async def test_the_default_window_is_the_last_30_days_ending_today(
    app: FastAPI, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    today = utcnow().date()
    days = {
        today: (1, 0),
        today - timedelta(days=29): (10, 0),
        today - timedelta(days=30): (100, 0),
        today + timedelta(days=1): (1000, 0),
    }
    await insert(app, [Item("recent", ("channel:email",), days)])
    response = await client.get(
        "/v1/insights", params={"group_by": "channel", "kpi": "views"}, headers=viewer
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from"], body["to"]) == (str(today - timedelta(days=29)), str(today))
    assert groups(body)[("channel:email",)]["median"] == 11
    ending = await client.get(
        "/v1/insights",
        params={"group_by": "channel", "kpi": "views", "to": str(today - timedelta(days=1))},
        headers=viewer,
    )
    assert ending.json()["from"] == str(today - timedelta(days=30))
    assert groups(ending.json())[("channel:email",)]["median"] == 110


# --- CSV -----------------------------------------------------------------------------------


async def test_accept_text_csv_answers_one_quoted_row_per_group(
    app: FastAPI, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    awkward = 'Spring, "hero"\nbanner'
    seeded = await insert(
        app,
        [
            item(awkward, ["channel:linkedin", "asset:banner"], 1000, 50),
            item("=HYPERLINK(1)", ["channel:linkedin", "asset:banner"], 1000, 10),
            item("video", ["channel:email", "asset:video"], 100, 1),
        ],
    )
    params = {**WINDOW, "group_by": "channel,asset-type", "top": "2"}
    as_json = (await client.get("/v1/insights", params=params, headers=viewer)).json()
    response = await client.get(
        "/v1/insights", params=params, headers={**viewer, "Accept": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "Accept" in response.headers["vary"]
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert len(rows) == len(as_json["groups"])
    header = next(csv.reader(io.StringIO(response.text, newline="")))
    assert header[:4] == ["channel", "channel_label", "asset-type", "asset-type_label"]
    tops = [f"top_{n}_{column}" for n in (1, 2) for column in ("id", "name", "value")]
    assert header[-6:] == tops
    by_key = {(r["channel"], r["asset-type"]): r for r in rows}
    for group in as_json["groups"]:
        row = by_key[(group["concepts"][0]["key"], group["concepts"][1]["key"])]
        assert int(row["assets"]) == group["assets"]
        assert float(row["median"]) == group["median"]
        assert float(row["iqr"]) == group["iqr"]
        assert row["top_1_id"] == group["top_assets"][0]["id"]
    banner = by_key[("channel:linkedin", "asset:banner")]
    assert banner["channel_label"] == "Linkedin"
    assert (banner["top_1_id"], banner["top_1_name"]) == (str(seeded.ids[awkward]), awkward)
    assert float(banner["top_1_value"]) == 0.05
    # A name a spreadsheet would run as a formula is written as text.
    assert banner["top_2_name"] == "'=HYPERLINK(1)"
    video = by_key[("channel:email", "asset:video")]
    assert (video["top_2_id"], video["top_2_name"], video["top_2_value"]) == ("", "", "")
    assert video["pooled"] == "0.01"


@pytest.mark.parametrize(
    ("accept", "csv_form"),
    [
        ("text/csv", True),
        ("text/csv, application/json;q=0.5", True),
        ("application/json", False),
        ("application/json, text/csv;q=0.9", False),
        ("*/*", False),
        ("text/csv;q=0", False),
    ],
)
async def test_json_unless_csv_is_preferred(
    client: httpx.AsyncClient,
    viewer: dict[str, str],
    accept: str,
    csv_form: bool,
) -> None:
    response = await client.get(
        "/v1/insights", params={"group_by": "channel"}, headers={**viewer, "Accept": accept}
    )
    assert response.status_code == 200, response.text
    expected = "text/csv" if csv_form else "application/json"
    assert response.headers["content-type"].startswith(expected)


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field", "reason"),
    [
        ({"group_by": "channel,colour"}, "group_by", "no taxonomy scheme 'colour'"),
        ({"group_by": "channel,channel"}, "group_by", "listed twice"),
        ({"group_by": ","}, "group_by", "at least one"),
        ({"group_by": "channel,region,asset-type,channel"}, "group_by", "at most 3"),
        ({"group_by": ""}, "group_by", "at least 1 character"),
        ({}, "group_by", "required"),
        ({"group_by": "channel", "kpi": "clicks"}, "kpi", "'clicks' is not a metric"),
        ({"group_by": "channel", "kpi": "key_events/impressions"}, "kpi", "no data source"),
        ({"group_by": "channel", "kpi": "views/views"}, "kpi", "same metric"),
        ({"group_by": "channel", "kpi": "a/b/c"}, "kpi", "numerator/denominator"),
        ({"group_by": "channel", "from": "2026-11-30", "to": "2026-11-01"}, "from", "after to"),
        ({"group_by": "channel", "from": "2026-02-30"}, "from", "date"),
        ({"group_by": "channel", "to": "yesterday"}, "to", "date"),
        ({"group_by": "channel", "from": "2024-01-01", "to": "2026-01-01"}, "from", "366 days"),
        ({"group_by": "channel", "min_sample": "-1"}, "min_sample", "greater than or equal"),
        ({"group_by": "channel", "top": "0"}, "top", "greater than or equal"),
        ({"group_by": "channel", "connection_id": str(uuid.uuid4())}, "connection_id", "no such"),
    ],
)
async def test_bad_input_is_a_422_naming_the_parameter(
    client: httpx.AsyncClient,
    viewer: dict[str, str],
    params: dict[str, str],
    field: str,
    reason: str,
) -> None:
    for accept in ("application/json", "text/csv"):
        response = await client.get(
            "/v1/insights", params=params, headers={**viewer, "Accept": accept}
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        errors = response.json()["errors"]
        assert any(e["field"] == field and reason in e["reason"] for e in errors), errors


async def test_every_bad_parameter_is_named_at_once(
    client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    params = {"group_by": "colour", "kpi": "clicks", "from": "2026-12-01", "to": "2026-11-01"}
    response = await client.get("/v1/insights", params=params, headers=viewer)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["group_by", "kpi", "from"]


async def test_insights_need_a_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/insights", params={"group_by": "channel"})
    assert response.status_code == 401


async def test_insights_are_documented_as_json_and_csv_with_an_example_that_fits(
    client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    Insights.model_validate(INSIGHTS_EXAMPLE)
    document = (await client.get("/openapi.json", headers=viewer)).json()
    operation = document["paths"]["/v1/insights"]["get"]
    assert operation["operationId"] == "get_insights"
    content = operation["responses"]["200"]["content"]
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/Insights"}
    assert "text/csv" in content
    assert {p["name"] for p in operation["parameters"]} == {
        "group_by",
        "kpi",
        "from",
        "to",
        "min_sample",
        "top",
        "connection_id",
    }
    assert "422" in operation["responses"]
    example = document["components"]["schemas"]["Insights"]["examples"][0]
    assert without_nulls(example) == without_nulls(INSIGHTS_EXAMPLE)
