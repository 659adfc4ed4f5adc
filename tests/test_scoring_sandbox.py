"""Scoring runs on the sandbox world: `POST /v1/runs {"kind": "score"}` queues a run that the
app's worker scores, and the tags agree with the world's ground truth.

The world draws each asset's key-event rate around its cohort's median (cohort = asset type
and channel): tier "top" at 4-6x the median, "bottom" at 1/6-1/4 of it, the rest 1/2-2x.
Mapping rules put each Bynder asset on its type's and its campaign's channel's concept (the
sandbox has no default mapping rules), so the default tag rule's cohorts are the world's.

What "clear" means here: a world outperformer (underperformer) that the default rule can
rank at all, that is with at least the rule's 100 views in the 28-day window. It must get
`perf:top-10` or `perf:top-25` (`perf:bottom-25`) unless its tier is crowded in its cohort:
the t top (bottom) assets of a cohort of n ranked ones hold the ranks down to
100 (t - 1) / (n - 1) from the top (bottom), so they cannot all be at or above 75 (below 25)
when that is more than (at least) 25, whatever the scoring; nor can an asset alone in its
cohort, ranked 50. This world has no such cohort, and the test says so. With 500 views or
more it must also outrank (be outranked by) every middle asset of its cohort with 500 views
or more.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Receive, Scope, Send

from syncbridge.app import create_app
from syncbridge.bootstrap import bootstrap_store
from syncbridge.cli.serve import sandbox_settings
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.metrics.service import compute_metrics
from syncbridge.models import Asset, Connection, DesiredTag, Job, MetricFact, utcnow
from syncbridge.sandbox.embedded import EmbeddedSandbox, prepare_sandbox_connections
from syncbridge.sandbox.spec import SandboxRegistry
from syncbridge.sandbox.world import CHANNELS, World
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import in_unit_of_work

pytestmark = pytest.mark.embedded_worker(True)

PUBLIC_URL = "http://127.0.0.1:8000"
FINISHED = ("succeeded", "failed", "cancelled")
ASSETS = 400
TOP = ("perf:top-10", "perf:top-25")
BOTTOM = ("perf:bottom-25",)
#: Views in the window from which an asset's rate is known well enough to be ordered against
#: every middle asset's (the world promises each observed asset 500 views over its 90 days;
#: with fewer in the 28-day window, Wilson's bound on a middle asset can sink below an
#: underperformer's, which is what it is for).
CLEAR_SAMPLE = 500
#: World channels whose concept key differs from ``channel:<name>``.
CHANNEL_CONCEPTS = {"google-search": "channel:paid-search"}
CLASSIFYING_RULES = [
    *(
        {
            "connector_key": "bynder",
            "field_path": "type",
            "operator": "equals",
            "values": [kind],
            "concept": f"asset:{kind}",
        }
        for kind in ("image", "video", "document")
    ),
    *(
        {
            "connector_key": "bynder",
            "field_path": "tags",
            "operator": "equals",
            "values": [channel],
            "concept": CHANNEL_CONCEPTS.get(channel, f"channel:{channel}"),
        }
        for channel in CHANNELS
    ),
]


@pytest.fixture
def sandbox(tmp_path: Path) -> EmbeddedSandbox:
    return EmbeddedSandbox.build(
        SandboxRegistry.from_entry_points(),
        ConnectorRegistry.from_entry_points(),
        world=World(assets_count=ASSETS),
        public_url=PUBLIC_URL,
        folder=tmp_path / "sandbox-dam",
    )


@pytest.fixture
async def sandbox_app(settings: Settings, sandbox: EmbeddedSandbox) -> AsyncIterator[FastAPI]:
    """The app as `serve --sandbox` builds it, with its worker, its simulators in-process."""
    local = sandbox_settings(settings, PUBLIC_URL, sandbox.folder)
    local = local.model_copy(update={"worker_poll_interval_s": 0.05})
    await prepare_sandbox_connections(local, sandbox, ConnectorRegistry.from_entry_points())
    built: list[FastAPI] = []

    async def into_the_app(scope: Scope, receive: Receive, send: Send) -> None:
        await built[0](scope, receive, send)

    app = create_app(local, sandbox, transport=httpx.ASGITransport(app=into_the_app))
    built.append(app)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def api(sandbox_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sandbox_app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
        yield client


async def run(api: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    """Start a run, poll it until it has finished; its report."""
    started = await api.post("/v1/runs", json=body, headers=headers)
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    for _ in range(6000):  # only stops a hung test: nothing is timed
        report: dict[str, Any] = (await api.get(location, headers=headers)).json()
        if report["status"] in FINISHED:
            return report
        await asyncio.sleep(0.02)
    raise AssertionError(f"the run never finished: {report}")


@pytest.fixture
async def synced(
    sandbox_app: FastAPI, api: httpx.AsyncClient, editor: dict[str, str]
) -> dict[str, Any]:
    """The world synced (full) with the classifying rules, and its metric facts computed;
    the sync run's report."""
    await bootstrap_store(sandbox_app.state.settings)  # taxonomy, link and tag rules
    for rule in CLASSIFYING_RULES:
        created = await api.post("/v1/mappings", json=rule, headers=editor)
        assert created.status_code == 201, created.text
    report = await run(api, editor, kind="sync", full=True)
    assert report["status"] == "succeeded", report["error"]
    # The worker's other jobs (re-classifying after the mapping rules) end first, so they
    # cannot rewrite the store under the facts and the scores.
    await idle(sandbox_app)
    await compute_metrics(sandbox_app.state.sessionmaker, run_id=uuid.UUID(report["id"]))
    assert await fact_count(sandbox_app) > 0
    # The run's own metrics job (due 30 s later) queues a scoring run after it: these tests
    # start theirs themselves, so it is cancelled, or (if it ran already) the run it queued.
    await in_unit_of_work(sandbox_app.state.sessionmaker, cancel_metrics_jobs)
    await idle(sandbox_app)
    queued = await api.get("/v1/runs", params={"kind": "score"}, headers=editor)
    for item in queued.json()["items"]:
        if item["status"] == "queued":
            cancelled = await api.post(f"/v1/runs/{item['id']}/cancel", headers=editor)
            assert cancelled.status_code == 200, cancelled.text
    return report


async def cancel_metrics_jobs(session: AsyncSession) -> None:
    await session.execute(
        update(Job)
        .where(Job.kind == "metrics.compute", Job.status == "queued")
        .values(status="cancelled", finished_at=utcnow())
    )


async def idle(app: FastAPI) -> None:
    """Wait until the app's worker has no job running and none due (the metrics job a run
    queues 30 s later is not due yet)."""

    async def busy(session: AsyncSession) -> int:
        due = or_(
            Job.status == "running",
            and_(Job.status == "queued", Job.run_after <= utcnow()),
        )
        return len(list(await session.scalars(select(Job.id).where(due))))

    for _ in range(6000):  # only stops a hung test: nothing is timed
        if not await in_unit_of_work(app.state.sessionmaker, busy, write=False):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the worker never went idle")


async def fact_count(app: FastAPI) -> int:
    async def read(session: AsyncSession) -> int:
        return len(list(await session.scalars(select(MetricFact.id))))

    return await in_unit_of_work(app.state.sessionmaker, read, write=False)


def is_crowded(tier: str, count: int, cohort_size: int) -> bool:
    """Whether ``count`` assets of ``tier`` cannot all reach its band (see the docstring)."""
    if cohort_size == 1:
        return True
    share = (count - 1) / (cohort_size - 1)
    return share > 0.25 if tier == "top" else share >= 0.25


async def bynder_tags(app: FastAPI) -> dict[str, DesiredTag]:
    """The desired tags of the Bynder assets, by world asset id."""

    async def read(session: AsyncSession) -> dict[str, DesiredTag]:
        rows = await session.execute(
            select(Asset.external_id, DesiredTag)
            .join(DesiredTag, DesiredTag.asset_id == Asset.id)
            .join(Connection, Connection.id == Asset.connection_id)
            .where(Connection.connector_key == "bynder")
        )
        found: dict[str, DesiredTag] = dict(rows.all())
        return found

    return await in_unit_of_work(app.state.sessionmaker, read, write=False)


async def test_clear_outperformers_get_the_top_tiers_and_underperformers_the_bottom(
    sandbox_app: FastAPI,
    sandbox: EmbeddedSandbox,
    api: httpx.AsyncClient,
    editor: dict[str, str],
    synced: dict[str, Any],
) -> None:
    del synced
    report = await run(api, editor, kind="score")
    assert report["status"] == "succeeded", report["error"]
    world = sandbox.world
    tags = await bynder_tags(sandbox_app)
    assert len(tags) == ASSETS
    ranked = {a: t for a, t in tags.items() if t.percentile is not None}
    # Cohorts are the world's: one cohort key per world cohort.
    cohorts: dict[str, set[str]] = defaultdict(set)
    for asset_id, tag in ranked.items():
        cohorts[tag.cohort].add(world.truth(asset_id).cohort)
    assert all(len(world_cohorts) == 1 for world_cohorts in cohorts.values()), cohorts
    tiers = {a: world.truth(a).tier for a in ranked}
    per_cohort: dict[str, Counter[str]] = defaultdict(Counter)
    for asset_id, tier in tiers.items():
        per_cohort[ranked[asset_id].cohort][tier] += 1
    well_sampled = {a for a, t in ranked.items() if t.sample >= CLEAR_SAMPLE}
    seen: Counter[str] = Counter()
    for asset_id, tag in ranked.items():
        tier = tiers[asset_id]
        if tier == "middle":
            continue
        crowded = is_crowded(tier, per_cohort[tag.cohort][tier], tag.cohort_size)
        where = (asset_id, tag.concept, tag.percentile, tag.sample, per_cohort[tag.cohort])
        assert crowded or tag.concept in (TOP if tier == "top" else BOTTOM), where
        seen[f"{tier} crowded" if crowded else tier] += 1
        if asset_id not in well_sampled:
            continue
        assert tag.smoothed is not None
        sign = 1 if tier == "top" else -1
        for other, t in ranked.items():
            if other in well_sampled and t.cohort == tag.cohort and tiers[other] == "middle":
                assert t.smoothed is not None
                assert sign * (tag.smoothed - t.smoothed) > 0, (where, other)
    # This world ranks 4 of its outperformers and 5 of its underperformers, none crowded.
    assert seen == {"top": 4, "bottom": 5}


async def test_a_score_run_reports_its_counts_and_a_second_one_changes_nothing(
    sandbox_app: FastAPI,
    api: httpx.AsyncClient,
    editor: dict[str, str],
    viewer: dict[str, str],
    synced: dict[str, Any],
) -> None:
    del synced
    first = await run(api, editor, kind="score")
    assert first["status"] == "succeeded", first["error"]
    assert (first["kind"], first["streams"], first["rejections"]) == ("score", [], [])
    [rule] = first["scoring"]
    assets = await stored_assets(sandbox_app)
    assert rule["assets"] == assets == rule["changed"] == sum(rule["tiers"].values())
    assert rule["tiers"]["perf:insufficient-data"] < assets
    assert {"perf:top-10", "perf:middle", "perf:bottom-25"} <= set(rule["tiers"])
    assert rule["window_end"] > rule["window_start"]
    before = {
        t.asset_id: (t.run_id, t.computed_at) for t in (await bynder_tags(sandbox_app)).values()
    }
    assert {run_id for run_id, _ in before.values()} == {uuid.UUID(first["id"])}

    second = await run(api, editor, kind="score")
    assert second["status"] == "succeeded", second["error"]
    [again] = second["scoring"]
    assert (again["changed"], again["unchanged"], again["removed"]) == (0, assets, 0)
    assert again["tiers"] == rule["tiers"]
    after = {
        t.asset_id: (t.run_id, t.computed_at) for t in (await bynder_tags(sandbox_app)).values()
    }
    assert after == before
    shown = await api.get(f"/v1/runs/{first['id']}", headers=viewer)
    assert shown.json()["scoring"] == first["scoring"]
    listed = await api.get("/v1/runs", params={"kind": "score"}, headers=viewer)
    mine = [r["id"] for r in listed.json()["items"] if r["status"] != "cancelled"]
    assert mine == [second["id"], first["id"]]


async def test_a_score_run_takes_no_sync_fields_and_needs_an_editor(
    api: httpx.AsyncClient, editor: dict[str, str], viewer: dict[str, str]
) -> None:
    refused = await api.post(
        "/v1/runs", json={"kind": "score", "connection_id": str(uuid.uuid4())}, headers=editor
    )
    assert refused.status_code == 422, refused.text
    assert "connection_id" in refused.text
    forbidden = await api.post("/v1/runs", json={"kind": "score"}, headers=viewer)
    assert forbidden.status_code == 403


async def stored_assets(app: FastAPI) -> int:
    async def read(session: AsyncSession) -> int:
        rows = await session.scalars(select(Asset.id).where(Asset.deleted_at.is_(None)))
        return len(list(rows))

    return await in_unit_of_work(app.state.sessionmaker, read, write=False)
