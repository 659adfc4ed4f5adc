"""``GET /v1/assets/{id}/metrics``: an asset's daily facts, their sources and totals."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.metrics.examples import METRICS_EXAMPLE
from syncbridge.metrics.schemas import AssetMetrics
from syncbridge.metrics.service import compute_metrics
from syncbridge.models import MetricFact, StoredRecord
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.conftest import without_nulls
from tests.test_metrics import MetricsWorld, metrics_world, read_facts

pytest_plugins = ["tests.store_fixtures"]

__all__ = ["metrics_world"]  # the fixture, imported for this module's tests

# The app's in-process worker would run the queued metrics job behind the tests' backs.
pytestmark = pytest.mark.embedded_worker(False)


async def _asset_with(world: MetricsWorld, metric: str) -> tuple[uuid.UUID, list[MetricFact]]:
    """The Bynder asset with the most facts among those with ``metric``, and its facts."""
    await compute_metrics(world.sessionmaker, run_id=world.run_id)
    facts = await read_facts(world.sessionmaker)
    mine = set(facts.bynder.values())
    by_asset: dict[uuid.UUID, list[MetricFact]] = defaultdict(list)
    for fact in facts.rows:
        if fact.asset_id in mine:
            by_asset[fact.asset_id].append(fact)
    having = [a for a, fs in by_asset.items() if any(f.metric == metric for f in fs)]
    asset = max(having, key=lambda a: (len(by_asset[a]), str(a)))
    return asset, by_asset[asset]


@pytest.mark.parametrize("metric", ["views", "influenced_revenue"])
async def test_an_assets_metrics_are_its_facts_with_their_records_and_totals(
    metrics_world: MetricsWorld, client: httpx.AsyncClient, viewer: dict[str, str], metric: str
) -> None:
    asset, stored = await _asset_with(metrics_world, metric)
    first, last = min(f.day for f in stored), max(f.day for f in stored)

    response = await client.get(
        f"/v1/assets/{asset}/metrics",
        params={"from": first.isoformat(), "to": last.isoformat()},
        headers=viewer,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    AssetMetrics.model_validate(body)
    assert (body["asset_id"], body["from"], body["to"]) == (
        str(asset),
        first.isoformat(),
        last.isoformat(),
    )
    got = {(f["day"], f["metric"], f["connection"]["id"]): f for f in body["facts"]}
    assert len(got) == len(body["facts"]) == len(stored)
    for fact in stored:
        item = got[(fact.day.isoformat(), fact.metric, str(fact.connection_id))]
        assert Decimal(str(item["value"])) == fact.value
        assert item["records"] == fact.records == len(item["record_ids"])
        assert item["attribution"] == fact.attribution
        assert item["run_id"] == str(metrics_world.run_id)
    # Counts are JSON integers, money exact decimal strings with cents.
    shown = next(f for f in body["facts"] if f["metric"] == metric)
    if metric == "views":
        assert isinstance(shown["value"], int)
        assert shown["connection"]["connector_key"] == "ga4"
        assert shown["attribution"] is None
    else:
        assert isinstance(shown["value"], str)
        assert len(shown["value"].split(".")[1]) == 2
        assert shown["attribution"] == "even"
        assert shown["connection"]["connector_key"] in {"hubspot", "salesforce"}
    # The records named are the linked records they came from.
    await _assert_records_exist(metrics_world, {r for f in body["facts"] for r in f["record_ids"]})
    # Totals: per metric and source connection, over the window.
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    days: dict[tuple[str, str], int] = defaultdict(int)
    for fact in stored:
        sums[(fact.metric, str(fact.connection_id))] += fact.value
        days[(fact.metric, str(fact.connection_id))] += 1
    totals = {(t["metric"], t["connection"]["id"]): t for t in body["totals"]}
    assert set(totals) == set(sums)
    for key, total in totals.items():
        assert Decimal(str(total["value"])) == sums[key]
        assert total["days"] == days[key]


async def _assert_records_exist(world: MetricsWorld, ids: set[str]) -> None:
    async def found(session: AsyncSession) -> set[str]:
        wanted = [uuid.UUID(i) for i in ids]
        rows = await session.scalars(select(StoredRecord.id).where(StoredRecord.id.in_(wanted)))
        return {str(r) for r in rows}

    assert ids
    assert await in_unit_of_work(world.sessionmaker, found, write=False) == ids


async def test_the_default_window_is_the_last_90_days_of_the_assets_data(
    metrics_world: MetricsWorld, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    asset, stored = await _asset_with(metrics_world, "views")
    last = max(f.day for f in stored)
    first = last - timedelta(days=89)

    body = (await client.get(f"/v1/assets/{asset}/metrics", headers=viewer)).json()

    assert (body["from"], body["to"]) == (first.isoformat(), last.isoformat())
    assert len(body["facts"]) == sum(1 for f in stored if first <= f.day <= last)
    only_to = await client.get(
        f"/v1/assets/{asset}/metrics", params={"to": "2026-01-31"}, headers=viewer
    )
    assert (only_to.json()["from"], only_to.json()["to"]) == ("2025-11-03", "2026-01-31")
    # At the calendar's ends the window is cut short, never an error.
    for params, window in (
        ({"from": "9999-12-30"}, ("9999-12-30", "9999-12-31")),
        ({"to": "0001-01-02"}, ("0001-01-01", "0001-01-02")),
    ):
        edge = await client.get(f"/v1/assets/{asset}/metrics", params=params, headers=viewer)
        assert (edge.status_code, edge.json()["from"], edge.json()["to"]) == (200, *window)


async def test_an_asset_without_facts_answers_an_empty_window(
    metrics_world: MetricsWorld, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    facts = await read_facts(metrics_world.sessionmaker)  # nothing computed yet
    asset = next(iter(facts.bynder.values()))

    response = await client.get(
        f"/v1/assets/{asset}/metrics", params={"from": "2026-11-01"}, headers=viewer
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["facts"], body["totals"], body["from"]) == ([], [], "2026-11-01")
    assert date.fromisoformat(body["to"]) >= date(2026, 11, 1)


async def test_an_unknown_asset_is_404(client: httpx.AsyncClient, viewer: dict[str, str]) -> None:
    response = await client.get(f"/v1/assets/{uuid.uuid4()}/metrics", headers=viewer)

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-11-30", "to": "2026-11-01"}, "from"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "to"),
    ],
)
async def test_bad_dates_are_422_naming_the_field(
    metrics_world: MetricsWorld,
    client: httpx.AsyncClient,
    viewer: dict[str, str],
    params: dict[str, str],
    field: str,
) -> None:
    asset = next(iter((await read_facts(metrics_world.sessionmaker)).bynder.values()))

    response = await client.get(f"/v1/assets/{asset}/metrics", params=params, headers=viewer)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in response.text


async def test_reading_metrics_takes_a_key(
    metrics_world: MetricsWorld, client: httpx.AsyncClient
) -> None:
    asset = next(iter((await read_facts(metrics_world.sessionmaker)).bynder.values()))

    response = await client.get(f"/v1/assets/{asset}/metrics")

    assert response.status_code == 401


async def test_the_metrics_are_documented_with_an_example_that_fits_their_model(
    client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    AssetMetrics.model_validate(METRICS_EXAMPLE)
    document = (await client.get("/openapi.json", headers=viewer)).json()
    schema = document["components"]["schemas"]["AssetMetrics"]
    assert schema["examples"] == [without_nulls(METRICS_EXAMPLE)]
    operation = document["paths"]["/v1/assets/{asset_id}/metrics"]["get"]
    assert operation["operationId"] == "get_asset_metrics"
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/AssetMetrics"}
    assert "404" in operation["responses"]
    assert {p["name"] for p in operation["parameters"]} >= {"asset_id", "from", "to"}
