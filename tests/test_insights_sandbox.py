"""`GET /v1/insights` on the sandbox world: the world's clear outperformers are the top assets
of their group.

The world draws each asset's key-event rate around its cohort's median (cohort = asset type
and channel): tier "top" at 4-6x the median, "bottom" at 1/6-1/4 of it, the rest 1/2-2x; and
every asset observed in its 90 days of analytics gets at least 500 views over them. Mapping
rules put each Bynder asset on its type's and its campaign's channel's concept, so a group
of (asset type, channel) concepts holds one world cohort, and over the world's 90 days its
observed outperformers, ranked by the Wilson bound of key events per view, come first.
Broader groups hold the assets of their narrower concepts.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.bootstrap import load_default_taxonomy
from syncbridge.metrics.service import compute_metrics
from syncbridge.models import Asset, Concept, ConceptBroader, Connection
from syncbridge.sandbox.world import CHANNELS, World
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.sandbox_support import embedded_world

pytest_plugins = ["tests.store_fixtures"]
pytestmark = pytest.mark.embedded_worker(False)

Sessionmaker = async_sessionmaker[AsyncSession]
ASSETS = 200
#: World channels whose concept key differs from ``channel:<name>``.
CHANNEL_CONCEPTS = {"google-search": "channel:paid-search"}
TYPE_CONCEPTS = {kind: f"asset:{kind}" for kind in ("image", "video", "document")}
CLASSIFYING_RULES = [
    *(
        {
            "connector_key": "bynder",
            "field_path": "type",
            "operator": "equals",
            "values": [kind],
            "concept": concept,
        }
        for kind, concept in TYPE_CONCEPTS.items()
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


def cohort_concepts(cohort: str) -> tuple[str, str]:
    """A world cohort (``image/linkedin``) as its (asset type, channel) concept keys."""
    kind, channel = cohort.split("/")
    return TYPE_CONCEPTS[kind], CHANNEL_CONCEPTS.get(channel, f"channel:{channel}")


@pytest.fixture
async def world(
    sessionmaker: Sessionmaker,
    client: httpx.AsyncClient,
    editor: dict[str, str],
    tmp_path: Path,
) -> AsyncIterator[World]:
    """The default taxonomy and the classifying rules, every sandbox connection synced
    (linked and classified as a run settles) and the metric facts computed."""
    await in_unit_of_work(sessionmaker, load_default_taxonomy)
    for rule in CLASSIFYING_RULES:
        created = await client.post("/v1/mappings", json=rule, headers=editor)
        assert created.status_code == 201, created.text
    world = World(assets_count=ASSETS)
    async with embedded_world(sessionmaker, world, tmp_path / "dam") as embedded:
        run = await embedded.sync(full=True)
        report = await compute_metrics(sessionmaker, run_id=run.id)
        assert report.facts > 0
        yield world


async def bynder_assets(sessionmaker: Sessionmaker) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
    """The Bynder connection, and its assets' ids by world asset id."""

    async def read(session: AsyncSession) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
        dam = await session.scalar(
            select(Connection.id).where(Connection.connector_key == "bynder")
        )
        assert dam is not None
        rows = await session.execute(
            select(Asset.external_id, Asset.id).where(Asset.connection_id == dam)
        )
        found: dict[str, uuid.UUID] = dict(rows.all())
        return dam, found

    return await in_unit_of_work(sessionmaker, read, write=False)


async def ancestors(sessionmaker: Sessionmaker) -> dict[str, set[str]]:
    """Each concept key -> itself and its broader concepts' keys at any depth, as stored."""

    async def read(session: AsyncSession) -> dict[str, set[str]]:
        keys: dict[uuid.UUID, str] = dict(
            (await session.execute(select(Concept.id, Concept.key))).all()
        )
        up: dict[str, set[str]] = defaultdict(set)
        for narrower, broader in await session.execute(
            select(ConceptBroader.concept_id, ConceptBroader.broader_id)
        ):
            up[keys[narrower]].add(keys[broader])
        out = {}
        for key in keys.values():
            seen, todo = {key}, [key]
            while todo:
                for b in up[todo.pop()] - seen:
                    seen.add(b)
                    todo.append(b)
            out[key] = seen
        return out

    return await in_unit_of_work(sessionmaker, read, write=False)


async def insights(
    client: httpx.AsyncClient, viewer: dict[str, str], world: World, **params: Any
) -> dict[str, Any]:
    window = {"from": str(world.analytics_days[0]), "to": str(world.analytics_end)}
    response = await client.get("/v1/insights", params={**window, **params}, headers=viewer)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_worlds_outperformers_are_the_top_assets_of_their_group(
    sessionmaker: Sessionmaker,
    client: httpx.AsyncClient,
    viewer: dict[str, str],
    world: World,
) -> None:
    dam, ids = await bynder_assets(sessionmaker)
    names = {asset_id: external for external, asset_id in ids.items()}
    observed = [a for a in ids if world.truth(a).live_days > 0]
    outperformers: dict[tuple[str, str], set[str]] = defaultdict(set)
    top_tier = world.outperformers()
    for asset in observed:
        if asset in top_tier:
            outperformers[cohort_concepts(world.truth(asset).cohort)].add(asset)
    assert sum(map(len, outperformers.values())) >= 5  # the check below is not empty
    body = await insights(
        client,
        viewer,
        world,
        group_by="asset-type,channel",
        kpi="key_events/views",
        connection_id=str(dam),
        top=10,
    )
    assert body["ranked_by"] == "wilson_lower_bound"
    groups = {tuple(c["key"] for c in g["concepts"]): g for g in body["groups"]}
    for cohort, tops in outperformers.items():
        group = groups[cohort]
        assert len(tops) <= 10, cohort  # else they could not all be listed
        listed = [names[uuid.UUID(a["id"])] for a in group["top_assets"]]
        # The cohort's outperformers lead its group, before any other asset.
        assert set(listed[: len(tops)]) == tops, (cohort, listed, tops)
        for asset in group["top_assets"][: len(tops)]:
            assert asset["value"] > group["p75"], (cohort, asset)
        assert all(a["sample"] >= 500 for a in group["top_assets"])


async def test_broader_groups_hold_the_assets_of_their_narrower_concepts(
    sessionmaker: Sessionmaker,
    client: httpx.AsyncClient,
    viewer: dict[str, str],
    world: World,
) -> None:
    dam, ids = await bynder_assets(sessionmaker)
    up = await ancestors(sessionmaker)
    expected: dict[tuple[str, str], int] = defaultdict(int)
    for asset in ids:
        kind, channel = cohort_concepts(world.truth(asset).cohort)
        for broader_kind in up[kind]:
            for broader_channel in up[channel]:
                expected[(broader_kind, broader_channel)] += 1
    body = await insights(
        client, viewer, world, group_by="asset-type,channel", connection_id=str(dam), min_sample=0
    )
    found = {
        tuple(c["key"] for c in g["concepts"]): g["assets"] + g["insufficient"]
        for g in body["groups"]
    }
    assert found == dict(expected)
    # Instagram sits under both paid and organic social: its assets count in both groups.
    assert any(key[1] == "channel:instagram" for key in found), "the world has instagram assets"
    assert ("asset:image", "channel:paid") in found
    assert body["ungrouped"] == 0
    assert body["assets"] == len(ids)
