"""``/v1/assets``: the list and its filters, one asset, and the trace of one asset.

The store is filled by the real sync from simulated vendors (a Bynder portal and a Cloudinary
cloud over the same sandbox world, and the ``shapes`` test connector for records). The
taxonomy and a mapping rule are made through the API; classifications and links are written
directly (their producing code is another item of issue 9) as set-up only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from syncbridge_bynder.presentation import describe as describe_bynder
from syncbridge_bynder.simulator import BynderSimulator
from syncbridge_cloudinary.presentation import describe as describe_cloudinary
from syncbridge_cloudinary.simulator import CloudinarySimulator
from syncbridge_localfolder import LocalFolderSettings
from syncbridge_localfolder import spec as localfolder_spec
from syncbridge_localfolder.presentation import describe as describe_localfolder

from syncbridge.assets.examples import ASSET_EXAMPLE, TRACE_EXAMPLE
from syncbridge.assets.naming import fallback_summary
from syncbridge.assets.schemas import TRACE_SECTION_MAX, AssetOut, AssetTrace
from syncbridge.classification.service import classify_run
from syncbridge.connections.service import ConnectionContext
from syncbridge.connector.folders import ROOTS_ENV
from syncbridge.connector.http import create_http_client
from syncbridge.connector.presentation import ItemFacts
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.connector.spec import ConnectorSpec
from syncbridge.models import (
    Asset,
    Classification,
    ClassificationChange,
    Concept,
    Link,
    Run,
    StoredRecord,
)
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.sync import run_sync
from tests.conftest import without_nulls
from tests.connectors.cloudinary.support import make_simulator as cloudinary_simulator
from tests.connectors.cloudinary.support import settings_for as cloudinary_settings
from tests.connectors.localfolder.dam import put
from tests.sync_connectors import KEY as SHAPES
from tests.sync_connectors import ShapesSettings, shapes_registry
from tests.sync_support import (
    HostRouter,
    Sessionmaker,
    add_connection,
    bynder_portal,
    connect_bynder,
    context,
)

# Background jobs (re-classification after a rule edit, re-linking) would race the set-up:
# the tests run the producers they need themselves.
pytestmark = pytest.mark.embedded_worker(False)

BYNDER_ASSETS = 12
CLOUDINARY_ASSETS = 6
CLOUDINARY_HOST = "cloudinary.test"
PROBLEM = "application/problem+json"


@dataclass
class Store:
    """What the fixtures synced, and how to sync again."""

    app: FastAPI
    ctx: ConnectionContext
    bynder: BynderSimulator
    bynder_host: str
    cloudinary: CloudinarySimulator
    bynder_id: uuid.UUID
    cloudinary_id: uuid.UUID
    shapes_id: uuid.UUID
    #: The full read of the Bynder portal (before the others were read).
    first_run: Run = field(init=False)
    #: When the last of the first syncs finished.
    synced_at: datetime = field(init=False)
    #: The full read of the records (it touched no asset).
    records_run: Run = field(init=False)

    @property
    def sessionmaker(self) -> Sessionmaker:
        maker: Sessionmaker = self.app.state.sessionmaker
        return maker

    async def sync(self, connection_id: uuid.UUID, *, full: bool, streams: Any = None) -> Run:
        routes = {self.bynder_host: self.bynder, CLOUDINARY_HOST: self.cloudinary}
        async with create_http_client(transport=HostRouter(routes)) as http:
            run = await run_sync(
                self.sessionmaker,
                self.ctx,
                http,
                connection_id=connection_id,
                full=full,
                streams=streams,
                requested_by="test",
            )
        assert run.status == "succeeded", run.error
        return run

    async def assets(self) -> dict[str, Asset]:
        """Bynder assets by external id."""

        async def read(session: AsyncSession) -> dict[str, Asset]:
            rows = await session.scalars(select(Asset).where(Asset.connection_id == self.bynder_id))
            return {a.external_id: a for a in rows}

        return await in_unit_of_work(self.sessionmaker, read, write=False)

    async def record(self, external_id: str) -> StoredRecord:
        async def read(session: AsyncSession) -> StoredRecord:
            stmt = select(StoredRecord).where(
                StoredRecord.connection_id == self.shapes_id,
                StoredRecord.external_id == external_id,
            )
            return (await session.scalars(stmt)).one()

        return await in_unit_of_work(self.sessionmaker, read, write=False)

    async def add(self, *rows: Any) -> None:
        async def write(session: AsyncSession) -> None:
            session.add_all(rows)
            await session.flush()

        await in_unit_of_work(self.sessionmaker, write)


@pytest.fixture
async def store(app: FastAPI) -> Store:
    """Bynder (12 media), Cloudinary (6 resources) and ``shapes`` records, each synced in
    full by a run of its own (Bynder's is ``first_run``)."""
    ctx = context(shapes_registry())
    maker: Sessionmaker = app.state.sessionmaker
    bynder, host = bynder_portal(assets=BYNDER_ASSETS)
    cloudinary = cloudinary_simulator(assets=CLOUDINARY_ASSETS)
    bynder_id = await connect_bynder(maker, ctx, bynder, host)
    cloud_settings = cloudinary_settings(cloudinary, base_url=f"http://{CLOUDINARY_HOST}")
    cloudinary_id = await add_connection(
        maker, ctx, "cloudinary", cloud_settings, name="Acme Cloudinary"
    )
    shapes_id = await add_connection(maker, ctx, SHAPES, ShapesSettings(), name="Acme records")
    synced = Store(app, ctx, bynder, host, cloudinary, bynder_id, cloudinary_id, shapes_id)
    synced.first_run = await synced.sync(bynder_id, full=True)
    await synced.sync(cloudinary_id, full=True)
    last = await synced.sync(shapes_id, full=True, streams=["fine"])
    assert last.finished_at is not None
    synced.synced_at = last.finished_at
    synced.records_run = last
    return synced


async def _all(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[Any]:
    response = await client.get("/v1/assets", params={"limit": 200, **params}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"])
    items: list[Any] = body["items"]
    return items


def _refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert field in [e["field"] for e in response.json()["errors"]], response.text


# -- the list ------------------------------------------------------------------------------


async def test_the_list_shows_synced_assets_with_their_names_and_dam_urls(
    client: httpx.AsyncClient, viewer: dict[str, str], store: Store
) -> None:
    items = await _all(client, viewer)
    assert len(items) == BYNDER_ASSETS + CLOUDINARY_ASSETS  # records are not assets
    assert [(i["external_id"], i["connection"]["id"]) for i in items] == sorted(
        (i["external_id"], i["connection"]["id"]) for i in items
    )
    stored = await store.assets()
    bynder = [i for i in items if i["connection"]["id"] == str(store.bynder_id)]
    assert len(bynder) == BYNDER_ASSETS
    for item in bynder:
        data = stored[item["external_id"]].data
        assert item["connection"]["connector_key"] == "bynder"
        assert item["stream"] == "media"
        assert item["name"] == data["name"]
        assert item["file_name"] == f"{data['name']}.{data['extension'][0]}"
        assert item["dam_url"] == (
            f"https://{store.bynder_host}/media/?mediaId={item['external_id']}"
        )
        assert item["deleted_at"] is None
    cloud = [i for i in items if i["connection"]["name"] == "Acme Cloudinary"]
    assert len(cloud) == CLOUDINARY_ASSETS
    for item in cloud:
        assert item["dam_url"].startswith("https://")
        assert item["name"]
        assert item["file_name"]
        assert item["connection"]["connector_key"] == "cloudinary"


async def test_the_list_filters_by_connection(
    client: httpx.AsyncClient, viewer: dict[str, str], store: Store
) -> None:
    only = await _all(client, viewer, connection_id=str(store.cloudinary_id))
    assert len(only) == CLOUDINARY_ASSETS
    assert {i["connection"]["id"] for i in only} == {str(store.cloudinary_id)}
    unknown = await client.get(
        "/v1/assets", params={"connection_id": str(uuid.uuid4())}, headers=viewer
    )
    _refused(unknown, "connection_id")
    malformed = await client.get("/v1/assets", params={"connection_id": "x"}, headers=viewer)
    _refused(malformed, "connection_id")


@dataclass
class Channels:
    """channel:social > channel:paid-social > channel:paid-video; channel:email apart."""

    social: uuid.UUID
    paid: uuid.UUID
    video: uuid.UUID
    email: uuid.UUID


@pytest.fixture
async def channels(client: httpx.AsyncClient, editor: dict[str, str], store: Store) -> Channels:
    scheme = {"key": "channel", "title": "Channel"}
    assert (await client.post("/v1/taxonomy/schemes", json=scheme, headers=editor)).is_success
    for key, broader in [
        ("channel:social", []),
        ("channel:paid-social", ["channel:social"]),
        ("channel:paid-video", ["channel:paid-social"]),
        ("channel:email", []),
    ]:
        label = key.split(":")[1].replace("-", " ").title()
        body = {"scheme": "channel", "key": key, "pref_label": {"en": label}, "broader": broader}
        response = await client.post("/v1/taxonomy/concepts", json=body, headers=editor)
        assert response.status_code == 201, response.text
    ids = await _concept_ids(store)
    return Channels(
        social=ids["channel:social"],
        paid=ids["channel:paid-social"],
        video=ids["channel:paid-video"],
        email=ids["channel:email"],
    )


async def _concept_ids(store: Store) -> dict[str, uuid.UUID]:
    async def read(session: AsyncSession) -> dict[str, uuid.UUID]:
        return {c.key: c.id for c in await session.scalars(select(Concept))}

    return await in_unit_of_work(store.sessionmaker, read, write=False)


def _classification(asset: Asset, concept_id: uuid.UUID, **fields: Any) -> Classification:
    values: dict[str, Any] = {"source": "manual", "created_by": "key:jane (k1)"}
    return Classification(asset_id=asset.id, concept_id=concept_id, **{**values, **fields})


async def test_the_list_filters_by_concept_with_its_narrower_concepts(
    client: httpx.AsyncClient, viewer: dict[str, str], store: Store, channels: Channels
) -> None:
    a, b, c, d = sorted((await store.assets()).values(), key=lambda x: x.external_id)[:4]
    await store.add(
        _classification(a, channels.social),
        _classification(b, channels.paid, source="rule", created_by=None),
        _classification(c, channels.video),
        _classification(c, channels.paid, source="rule", created_by=None),  # listed once
        _classification(d, channels.email),
    )

    async def listed(concept: str) -> list[str]:
        return [i["external_id"] for i in await _all(client, viewer, concept=concept)]

    assert await listed("channel:social") == [a.external_id, b.external_id, c.external_id]
    assert await listed("channel:paid-social") == [b.external_id, c.external_id]
    assert await listed(str(channels.paid)) == [b.external_id, c.external_id]  # by id
    assert await listed("channel:paid-video") == [c.external_id]
    assert await listed("channel:email") == [d.external_id]
    both = await _all(client, viewer, concept="channel:social", connection_id=str(store.bynder_id))
    assert len(both) == 3
    for unknown in ("channel:nope", str(uuid.uuid4())):
        response = await client.get("/v1/assets", params={"concept": unknown}, headers=viewer)
        _refused(response, "concept")


async def test_the_text_search_reads_names_file_names_and_external_ids_case_insensitively(
    client: httpx.AsyncClient, viewer: dict[str, str], store: Store
) -> None:
    stored = sorted((await store.assets()).values(), key=lambda x: x.external_id)
    # The same world feeds both DAMs: its first assets are in Bynder and in Cloudinary.
    name = next(a.data["name"] for a in stored if a.data["name"].endswith("_000001"))
    found = await _all(client, viewer, q=name[-20:].upper())
    assert {i["connection"]["connector_key"] for i in found} == {"bynder", "cloudinary"}
    assert [i["name"] for i in found] == [name, name]
    by_id = await _all(client, viewer, q=stored[1].external_id[4:20].upper())
    assert [i["external_id"] for i in by_id] == [stored[1].external_id]
    # Cloudinary's public id (folder/campaign/name) is searched; Bynder's description
    # ("Image for <campaign>") is not.
    by_folder = await _all(client, viewer, q="WEB/SPRING-SALE")
    assert by_folder
    assert {i["connection"]["connector_key"] for i in by_folder} == {"cloudinary"}
    assert await _all(client, viewer, q="for spring-sale") == []
    # LIKE's wildcards are taken literally: as wildcards they would match every name.
    assert await _all(client, viewer, q="%") == []
    assert await _all(client, viewer, q="sale_2025") == []
    assert len(await _all(client, viewer, q="0_hero")) > 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("q", ""), ("q", "   "), ("q", "x" * 201), ("q", "a\x00b"), ("concept", "channel:\x00")],
)
async def test_a_blank_long_or_nul_text_is_refused(
    client: httpx.AsyncClient, viewer: dict[str, str], store: Store, field: str, value: str
) -> None:
    del store
    _refused(await client.get("/v1/assets", params={field: value}, headers=viewer), field)


async def test_updated_since_lists_what_changed_after_a_moment(
    client: httpx.AsyncClient, viewer: dict[str, str], store: Store
) -> None:
    moment = store.synced_at
    assert await _all(client, viewer, updated_since=moment.isoformat()) == []
    changed = sorted(store.bynder.portal.media)[5]
    store.bynder.edit_tags(changed, ["changed-by-a-person"])
    await store.sync(store.bynder_id, full=False, streams=["media"])
    since = await _all(client, viewer, updated_since=moment.isoformat())
    assert [i["external_id"] for i in since] == [changed]
    earlier = (moment - timedelta(days=1)).isoformat()
    assert (
        len(await _all(client, viewer, updated_since=earlier)) == BYNDER_ASSETS + CLOUDINARY_ASSETS
    )


@pytest.mark.parametrize(
    "since", ["2026-01-01T00:00:00", "1700000000", "0001-01-01T00:00:00+14:00", "yesterday"]
)
async def test_updated_since_needs_an_aware_rfc3339_time(
    client: httpx.AsyncClient, viewer: dict[str, str], store: Store, since: str
) -> None:
    del store
    response = await client.get("/v1/assets", params={"updated_since": since}, headers=viewer)
    _refused(response, "updated_since")


async def test_a_deleted_asset_is_left_out_unless_asked_for(
    client: httpx.AsyncClient, viewer: dict[str, str], store: Store
) -> None:
    gone = sorted(store.bynder.portal.media)[2]
    store.bynder.portal.delete(gone)
    await store.sync(store.bynder_id, full=True)
    live = await _all(client, viewer, connection_id=str(store.bynder_id))
    assert gone not in [i["external_id"] for i in live]
    assert len(live) == BYNDER_ASSETS - 1
    everything = await _all(
        client, viewer, connection_id=str(store.bynder_id), include_deleted="true"
    )
    tombstones = [i for i in everything if i["deleted_at"] is not None]
    assert [i["external_id"] for i in tombstones] == [gone]
    # A consumer polling by time sees the deletion too.
    moment = store.synced_at
    polled = await _all(client, viewer, updated_since=moment.isoformat(), include_deleted=True)
    assert [i["external_id"] for i in polled] == [gone]
    detail = await client.get(f"/v1/assets/{tombstones[0]['id']}", headers=viewer)
    assert detail.status_code == 200
    assert detail.json()["deleted_at"] is not None


async def test_the_list_pages_in_a_stable_order(
    client: httpx.AsyncClient, viewer: dict[str, str], store: Store
) -> None:
    del store
    whole = await _all(client, viewer)
    seen: list[Any] = []
    offset: int | None = 0
    while offset is not None:
        response = await client.get(
            "/v1/assets", params={"limit": 5, "offset": offset}, headers=viewer
        )
        body = response.json()
        assert body["total"] == len(whole)
        assert body["limit"] == 5
        seen += body["items"]
        offset = body["next_offset"]
    assert seen == whole
    over_cap = await client.get("/v1/assets", params={"limit": 10_000}, headers=viewer)
    _refused(over_cap, "limit")


# -- one asset -----------------------------------------------------------------------------


async def test_an_asset_shows_its_identity_data_timestamps_and_classifications(
    client: httpx.AsyncClient, viewer: dict[str, str], store: Store, channels: Channels
) -> None:
    asset = sorted((await store.assets()).values(), key=lambda x: x.external_id)[0]
    await store.add(
        _classification(asset, channels.paid, source="rule", created_by=None),
        _classification(asset, channels.paid),
        _classification(asset, channels.email),
    )
    response = await client.get(f"/v1/assets/{asset.id}", headers=viewer)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["connection"] == {
        "id": str(store.bynder_id),
        "name": body["connection"]["name"],
        "connector_key": "bynder",
    }
    assert body["connection"]["name"].startswith("bynder-")
    assert (body["stream"], body["external_id"]) == ("media", asset.external_id)
    assert body["name"] == asset.data["name"]
    assert body["dam_url"] == f"https://{store.bynder_host}/media/?mediaId={asset.external_id}"
    assert body["data"] == asset.data
    assert body["content_hash"] == asset.content_hash
    assert body["last_run_id"] == body["seen_run_id"] == str(store.first_run.id)
    assert datetime.fromisoformat(body["first_seen_at"]) == asset.first_seen_at
    assert body["vendor_updated_at"] is not None
    # One entry per concept and source, labelled, by concept key then source.
    email = {
        "key": "channel:email",
        "scheme": "channel",
        "pref_label": {"en": "Email"},
        "status": "approved",
    }
    paid = {**email, "key": "channel:paid-social", "pref_label": {"en": "Paid Social"}}
    assert body["classifications"] == [
        {"concept": email, "source": "manual"},
        {"concept": paid, "source": "manual"},
        {"concept": paid, "source": "rule"},
    ]


@pytest.mark.parametrize("suffix", ["", "/trace"])
async def test_an_unknown_asset_is_a_404_problem(
    client: httpx.AsyncClient, viewer: dict[str, str], suffix: str
) -> None:
    response = await client.get(f"/v1/assets/{uuid.uuid4()}{suffix}", headers=viewer)
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["title"] == "Not found"
    malformed = await client.get(f"/v1/assets/not-an-id{suffix}", headers=viewer)
    assert malformed.status_code == 404
    assert malformed.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("suffix", ["", "/{id}", "/{id}/trace"])
async def test_a_viewer_reads_and_a_caller_without_a_key_does_not(
    client: httpx.AsyncClient, viewer: dict[str, str], store: Store, suffix: str
) -> None:
    asset = next(iter((await store.assets()).values()))
    path = "/v1/assets" + suffix.format(id=asset.id)
    assert (await client.get(path, headers=viewer)).status_code == 200
    anonymous = await client.get(path)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == PROBLEM


# -- the trace -----------------------------------------------------------------------------


async def _rule(
    client: httpx.AsyncClient, editor: dict[str, str], path: str, body: dict[str, Any], rename: str
) -> dict[str, Any]:
    """A rule made through the API (version 1), then renamed (version 2)."""
    response = await client.post(path, json=body, headers=editor)
    assert response.status_code == 201, response.text
    rule: dict[str, Any] = response.json()
    headers = {**editor, "If-Match": response.headers["etag"]}
    renamed = await client.patch(f"{path}/{rule['id']}", json={"name": rename}, headers=headers)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["version"] == 2
    return rule


async def test_the_trace_shows_rule_classifications_made_by_the_classifier(
    client: httpx.AsyncClient,
    viewer: dict[str, str],
    editor: dict[str, str],
    store: Store,
    channels: Channels,
) -> None:
    """The real classifier over a synced run: provenance, history and runs in the trace."""
    del channels
    body = {
        "name": "Bynder images are paid social",
        "connector_key": "bynder",
        "stream": "media",
        "field_path": "type",
        "operator": "in",
        "values": ["image"],
        "concept": "channel:paid-social",
    }
    response = await client.post("/v1/mappings", json=body, headers=editor)
    assert response.status_code == 201, response.text
    rule = response.json()
    edited = sorted(store.bynder.portal.media)[0]
    store.bynder.edit_tags(edited, ["touched"])
    # The run settles what it changed (links, then classifications) before it finishes.
    run = await store.sync(store.bynder_id, full=False, streams=["media"])
    asset = (await store.assets())[edited]
    assert asset.data["type"] == "image"  # the world's first asset is an image
    again = await classify_run(store.sessionmaker, run.id)
    assert (again.assets, again.added, again.changed, again.removed) == (1, 0, 0, 0)

    listed = await _all(client, viewer, concept="channel:social")
    assert [i["external_id"] for i in listed] == [edited]
    trace = (await client.get(f"/v1/assets/{asset.id}/trace", headers=viewer)).json()
    [ruled] = trace["classifications"]["items"]
    assert ruled["rule"] == {
        "kind": "mapping",
        "id": rule["id"],
        "version": 1,
        "name": "Bynder images are paid social",
    }
    assert ruled["evidence"] == {
        "record_id": None,
        "record": None,
        "field_path": "type",
        "value": "image",
    }
    assert ruled["run_id"] == str(run.id)
    [added] = trace["classification_changes"]["items"]
    assert (added["change"], added["concept_key"], added["run_id"]) == (
        "added",
        "channel:paid-social",
        str(run.id),
    )
    assert "Bynder images are paid social" in added["reason"]
    roles = {r["id"]: r["roles"] for r in trace["runs"]["items"]}
    assert roles == {str(run.id): ["last_changed", "last_read", "classified"]}
    assert trace["runs"]["total"] == 1


async def test_the_trace_explains_classifications_links_and_runs(
    client: httpx.AsyncClient,
    viewer: dict[str, str],
    editor: dict[str, str],
    store: Store,
    channels: Channels,
) -> None:
    mapping = await _rule(
        client,
        editor,
        "/v1/mappings",
        {
            "name": "Shapes n=2 is paid social",
            "connector_key": SHAPES,
            "field_path": "n",
            "operator": "in",
            "values": [2],
            "concept": "channel:paid-social",
        },
        rename="Renamed later",
    )
    linking = await _rule(
        client,
        editor,
        "/v1/link-rules",
        {
            "name": "Record id names the asset",
            "connector_key": SHAPES,
            "field_path": "id",
            "asset_key": "id",
        },
        rename="Renamed link rule",
    )
    # A second full read changes nothing: the first run stays the one that last changed it.
    second = await store.sync(store.bynder_id, full=True)
    asset = sorted((await store.assets()).values(), key=lambda x: x.external_id)[0]
    f1, f2 = await store.record("f1"), await store.record("f2")
    first = store.first_run.id
    # Rule classifications and links as the classifier and the linker write them (set-up).
    await store.add(
        _classification(
            asset,
            channels.paid,
            source="rule",
            created_by=None,
            rule_id=uuid.UUID(mapping["id"]),
            rule_version=1,
            record_id=f1.id,
            field_path="n",
            value=2,
            run_id=first,
        ),
        Link(
            asset_id=asset.id,
            record_id=f2.id,
            rule_id=uuid.UUID(linking["id"]),
            rule_version=1,
            field_path="id",
            value="f2",
            run_id=first,
        ),
    )
    # A run that once removed a classification touched the asset too.
    earlier = ClassificationChange(
        asset_id=asset.id,
        concept_id=channels.video,
        concept_key="channel:paid-video",
        change="removed",
        source="rule",
        reason="rule 'Old rule' v1 no longer matches",
        run_id=store.records_run.id,
        at=store.records_run.created_at,
    )
    await store.add(earlier)
    manual = {"concept": "channel:email", "note": "Shot for the newsletter"}
    added = await client.post(f"/v1/assets/{asset.id}/classifications", json=manual, headers=editor)
    assert added.status_code == 201, added.text
    response = await client.get(f"/v1/assets/{asset.id}/trace", headers=viewer)
    assert response.status_code == 200, response.text
    trace = response.json()

    identity = trace["asset"]
    assert (identity["id"], identity["external_id"]) == (str(asset.id), asset.external_id)
    assert identity["connection"]["connector_key"] == "bynder"
    assert identity["dam_url"] == f"https://{store.bynder_host}/media/?mediaId={asset.external_id}"
    assert identity["name"] == asset.data["name"]

    assert trace["classifications"]["total"] == 2
    by_source = {c["source"]: c for c in trace["classifications"]["items"]}
    ruled = by_source["rule"]
    assert ruled["concept"]["key"] == "channel:paid-social"
    # Rules are named as they were at the version that classified or linked.
    assert ruled["rule"] == {
        "kind": "mapping",
        "id": mapping["id"],
        "version": 1,
        "name": "Shapes n=2 is paid social",
    }
    assert ruled["run_id"] == str(first)
    evidence = ruled["evidence"]
    assert (evidence["field_path"], evidence["value"]) == ("n", 2)
    assert evidence["record_id"] == str(f1.id)
    assert evidence["record"] == {
        "id": str(f1.id),
        "connection": {"id": str(store.shapes_id), "name": "Acme records", "connector_key": SHAPES},
        "stream": "fine",
        "external_id": "f1",
        "summary": "n: 2",
        "deleted_at": None,
    }
    person = by_source["manual"]
    assert person["rule"] is None
    assert person["evidence"] is None
    assert person["note"] == "Shot for the newsletter"
    assert person["created_by"].startswith("key:test-editor")
    history = [(h["change"], h["concept_key"]) for h in trace["classification_changes"]["items"]]
    assert history == [("added", "channel:email"), ("removed", "channel:paid-video")]

    assert trace["links"]["total"] == 1
    [link] = trace["links"]["items"]
    assert link["record"]["external_id"] == "f2"
    assert link["record"]["connection"]["name"] == "Acme records"
    assert link["rule"] == {
        "kind": "link",
        "id": linking["id"],
        "version": 1,
        "name": "Record id names the asset",
    }
    assert link["evidence"] == {"field_path": "id", "value": "f2"}
    assert link["run_id"] == str(first)

    runs = {r["id"]: r for r in trace["runs"]["items"]}
    assert trace["runs"]["total"] == 3
    assert runs[str(first)]["roles"] == ["last_changed", "classified", "linked"]
    assert runs[str(second.id)]["roles"] == ["last_read"]
    assert runs[str(store.records_run.id)]["roles"] == ["classified"]
    newest_first = [str(second.id), str(store.records_run.id), str(first)]
    assert [r["id"] for r in trace["runs"]["items"]] == newest_first
    for run in runs.values():
        assert (run["kind"], run["status"], run["requested_by"]) == ("sync", "succeeded", "test")
        assert run["full"] is True
        assert run["started_at"] <= run["finished_at"]
    AssetTrace.model_validate(trace)


async def test_a_trace_section_shows_its_newest_items_and_counts_them_all(
    client: httpx.AsyncClient, viewer: dict[str, str], store: Store
) -> None:
    asset = next(iter((await store.assets()).values()))
    record = await store.record("f3")
    links = [
        Link(asset_id=asset.id, record_id=record.id, field_path="id", value=f"v{n}")
        for n in range(TRACE_SECTION_MAX + 1)
    ]
    await store.add(*links)
    trace = (await client.get(f"/v1/assets/{asset.id}/trace", headers=viewer)).json()
    assert trace["links"]["total"] == TRACE_SECTION_MAX + 1
    assert len(trace["links"]["items"]) == TRACE_SECTION_MAX
    assert trace["classifications"] == {"total": 0, "items": []}


async def test_evidence_names_a_record_that_is_no_longer_stored(
    client: httpx.AsyncClient, viewer: dict[str, str], store: Store, channels: Channels
) -> None:
    asset = next(iter((await store.assets()).values()))
    gone = uuid.uuid4()
    fields = {"source": "rule", "created_by": None, "record_id": gone, "field_path": "n"}
    await store.add(_classification(asset, channels.paid, value=2, **fields))
    trace = (await client.get(f"/v1/assets/{asset.id}/trace", headers=viewer)).json()
    [ruled] = trace["classifications"]["items"]
    assert ruled["evidence"] == {
        "record_id": str(gone),
        "record": None,
        "field_path": "n",
        "value": 2,
    }


async def test_the_trace_is_documented_with_an_example_that_fits_its_model(
    client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    AssetTrace.model_validate(TRACE_EXAMPLE)
    AssetOut.model_validate(ASSET_EXAMPLE)
    document = (await client.get("/openapi.json", headers=viewer)).json()
    schema = document["components"]["schemas"]["AssetTrace"]
    # FastAPI leaves null members out of everything in the document, examples included.
    assert schema["examples"] == [without_nulls(TRACE_EXAMPLE)]
    operation = document["paths"]["/v1/assets/{asset_id}/trace"]["get"]
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/AssetTrace"}
    assert "404" in operation["responses"]


# -- naming ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data", [{}, {"name": 5, "extension": "jpg", "id": None}, {"name": " ", "extension": [7]}]
)
def test_dam_connectors_describe_odd_data_without_failing(data: dict[str, Any]) -> None:
    settings = {"base_url": "https://acme.bynder.com"}
    assert describe_bynder("media", data, settings) == ItemFacts()
    assert describe_cloudinary("resources", data, {}) == ItemFacts()
    assert describe_localfolder("files", data, {}) == ItemFacts()


def test_cloudinary_names_raw_files_by_their_public_id() -> None:
    data = {"public_id": "docs/spring/brief.pdf", "format": None, "secure_url": "https://x/y"}
    facts = describe_cloudinary("resources", data, {})
    assert facts == ItemFacts(title="brief.pdf", file_name="brief.pdf", url="https://x/y")


def test_a_record_without_a_name_is_summarised_by_a_few_short_fields() -> None:
    assert fallback_summary({"Name": "Spring launch", "id": "1"}) == "Spring launch"
    data = {"id": "r1", "_source": {"line": 3}, "sessions": 12, "date": "2026-11-28", "ok": True}
    assert fallback_summary(data) == "date: 2026-11-28 · sessions: 12"
    assert fallback_summary({"nested": {"a": 1}}) is None


def test_every_installed_dam_connector_names_its_assets() -> None:
    specs = ConnectorRegistry.from_entry_points().load_all()
    dams = {k: s for k, s in specs.items() if isinstance(s, ConnectorSpec) and s.kind == "dam"}
    assert set(dams) >= {"bynder", "cloudinary", "localfolder"}
    for key, dam in dams.items():
        assert dam.presentation is not None, key
        assert dam.presentation.text_fields, key


async def test_the_local_folder_names_a_file_it_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ROOTS_ENV, str(tmp_path))
    root = tmp_path / "dam"
    put(root, "spring/hero banner.JPG", keywords=["launch"])
    settings = LocalFolderSettings(root=root)
    connector = localfolder_spec.factory(settings, None)  # type: ignore[arg-type]  # no HTTP
    [record] = [r async for page in connector.read("files", None) for r in page.records]
    assert localfolder_spec.presentation is not None
    facts = localfolder_spec.presentation.describe(
        record.stream, record.data, settings.model_dump(mode="json")
    )
    assert facts == ItemFacts(title="hero banner.JPG", file_name="hero banner.JPG", url=None)
