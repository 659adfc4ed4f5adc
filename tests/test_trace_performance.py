"""`GET /v1/assets/{id}/trace`: the `metrics` section (the asset's facts summed per metric
over a window, per source connection) and the `performance_tags` section (each desired tag
with its inputs, its rule and version, the run that set it and since when); scoring runs
appear among the runs with the role `scored`.

Assets and facts are written directly (no vendor), with the default taxonomy and tag rule;
the assets are unclassified, so the rule ranks them all in the cohort ``none/none``. Asset
``a<i>`` has ``i`` key events and 20 views a day from GA4 over 10 days, and revenue on the
last day; ``bare`` has no facts.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.assets.schemas import AssetTrace
from syncbridge.bootstrap import load_default_taxonomy
from syncbridge.models import Asset, Connection, DesiredTag, MetricFact, TagRule
from syncbridge.scoring.runs import execute_score_run, queue_score_run
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.tagging.defaults import load_default_tag_rules

pytestmark = pytest.mark.embedded_worker(False)

Sessionmaker = async_sessionmaker[AsyncSession]
LAST_DAY = date(2026, 11, 20)
RATE = "key_events per views over 28 days, ranked by the lower bound of its Wilson interval at 95%"


async def seed(sessionmaker: Sessionmaker) -> dict[str, uuid.UUID]:
    async def work(session: AsyncSession) -> dict[str, uuid.UUID]:
        await load_default_taxonomy(session)
        await load_default_tag_rules(session, "test")
        ga4 = Connection(connector_key="ga4", name="GA4")
        dam = Connection(connector_key="bynder", name="Bynder")
        session.add_all([ga4, dam])
        await session.flush()
        ids = {"ga4": ga4.id}
        for i in range(1, 6):
            asset = Asset(
                connection_id=dam.id, stream="media", external_id=f"a{i}", data={}, content_hash="h"
            )
            session.add(asset)
            await session.flush()
            ids[f"a{i}"] = asset.id
            for back in range(10):
                day = LAST_DAY - timedelta(days=back)
                values = [("key_events", Decimal(i)), ("views", Decimal(20))]
                if back == 0:
                    values.append(("revenue", Decimal("12.50")))
                for metric, value in values:
                    session.add(
                        MetricFact(
                            asset_id=asset.id,
                            day=day,
                            metric=metric,
                            connection_id=ga4.id,
                            value=value,
                            records=2,
                        )
                    )
        bare = Asset(
            connection_id=dam.id, stream="media", external_id="bare", data={}, content_hash="h"
        )
        session.add(bare)
        await session.flush()
        ids["bare"] = bare.id
        return ids

    return await in_unit_of_work(sessionmaker, work)


async def score(sessionmaker: Sessionmaker) -> uuid.UUID:
    """A scoring run, queued as the API queues it and run to its end."""

    async def queue(session: AsyncSession) -> uuid.UUID:
        return (await queue_score_run(session, requested_by="test")).id

    run_id = await in_unit_of_work(sessionmaker, queue)
    await execute_score_run(sessionmaker, run_id)
    return run_id


async def trace(client: httpx.AsyncClient, viewer: dict[str, str], asset: uuid.UUID) -> Any:
    response = await client.get(f"/v1/assets/{asset}/trace", headers=viewer)
    assert response.status_code == 200, response.text
    body = response.json()
    AssetTrace.model_validate(body)
    return body


async def test_the_trace_shows_the_assets_metrics_per_metric_and_source(
    app: FastAPI, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    ids = await seed(app.state.sessionmaker)
    body = await trace(client, viewer, ids["a3"])
    section = body["metrics"]
    # The latest 90 days of the asset's data.
    assert (section["from"], section["to"]) == ("2026-08-23", "2026-11-20")
    assert section["total"] == 3
    metrics = {item["metric"]: item for item in section["items"]}
    assert list(metrics) == ["key_events", "revenue", "views"]
    assert (metrics["key_events"]["value"], metrics["key_events"]["days"]) == (30, 10)
    assert (metrics["views"]["value"], metrics["revenue"]["value"]) == (200, "12.50")
    [source] = metrics["views"]["sources"]
    assert source["connection"] == {"id": str(ids["ga4"]), "name": "GA4", "connector_key": "ga4"}
    assert (source["value"], source["records"], source["days"]) == (200, 20, 10)
    assert source["attribution"] is None


async def test_each_performance_tag_shows_its_inputs_rule_run_and_since_when(
    app: FastAPI, client: httpx.AsyncClient, viewer: dict[str, str], editor: dict[str, str]
) -> None:
    sessionmaker = app.state.sessionmaker
    ids = await seed(sessionmaker)
    first = await score(sessionmaker)

    async def stored(session: AsyncSession) -> tuple[DesiredTag, TagRule]:
        tag = (
            await session.scalars(select(DesiredTag).where(DesiredTag.asset_id == ids["a5"]))
        ).one()
        return tag, (await session.scalars(select(TagRule))).one()

    row, rule = await in_unit_of_work(sessionmaker, stored, write=False)
    body = await trace(client, viewer, ids["a5"])
    assert body["performance_tags"]["total"] == 1
    [tag] = body["performance_tags"]["items"]
    assert tag["concept"] == {
        "key": "perf:top-10",
        "scheme": "performance-tier",
        "pref_label": {"en": "Top 10%"},
        "status": "approved",
    }
    assert tag["rule"] == {"kind": "tag", "id": str(rule.id), "version": 1, "name": rule.name}
    assert tag["measure"] == RATE
    assert (tag["kpi"], tag["smoothed"], tag["sample"]) == (row.kpi, row.smoothed, 200)
    assert tag["kpi"] == pytest.approx(0.25)
    assert (tag["cohort"], tag["cohort_size"], tag["percentile"]) == ("none/none", 5, 100)
    assert (tag["window_start"], tag["window_end"]) == ("2026-10-24", "2026-11-20")
    assert tag["run_id"] == str(first)
    since = tag["computed_at"]
    [run] = [r for r in body["runs"]["items"] if r["id"] == str(first)]
    assert (run["kind"], run["roles"]) == ("score", ["scored"])

    # A run that changes nothing leaves the tag's run and "since when" alone.
    second = await score(sessionmaker)
    again = await trace(client, viewer, ids["a5"])
    [same] = again["performance_tags"]["items"]
    assert (same["run_id"], same["computed_at"]) == (str(first), since)
    assert str(second) not in {r["id"] for r in again["runs"]["items"]}

    # A new rule version that changes the tag shows the version and the run that set it.
    patched = await client.patch(
        f"/v1/tag-rules/{rule.id}",
        json={"min_sample": 500, "name": "Renamed"},
        headers=editor,
    )
    assert patched.status_code == 200, patched.text
    third = await score(sessionmaker)
    now = (await trace(client, viewer, ids["a5"]))["performance_tags"]["items"]
    [changed] = now
    assert changed["concept"]["key"] == "perf:insufficient-data"
    assert changed["rule"] == {"kind": "tag", "id": str(rule.id), "version": 2, "name": "Renamed"}
    assert (changed["percentile"], changed["cohort_size"], changed["run_id"]) == (
        None,
        0,
        str(third),
    )
    assert changed["computed_at"] > since


async def test_an_asset_without_facts_or_tags_has_empty_sections(
    app: FastAPI, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    ids = await seed(app.state.sessionmaker)
    body = await trace(client, viewer, ids["bare"])
    assert (body["metrics"]["total"], body["metrics"]["items"]) == (0, [])
    assert body["performance_tags"] == {"total": 0, "items": []}
