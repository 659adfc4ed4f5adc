"""Simulators mounted under a path prefix, as the sandbox serves them inside the main app.

``connection_settings(base_url)`` must give settings the connector's model accepts and that
work against the simulator at that address, and the URLs the simulator hands out (SNS
certificate and SubscribeURL, Cloudinary delivery URLs) must point under it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from syncbridge_bynder import spec as bynder_spec
from syncbridge_bynder.simulator import BynderSimulator
from syncbridge_cloudinary import spec as cloudinary_spec
from syncbridge_cloudinary.simulator import CloudinarySimulator

from syncbridge.connector.http import create_http_client
from syncbridge.connector.spec import Connector, ConnectorSpec
from syncbridge.connector.types import Ref, TagChange
from syncbridge.sandbox.faults import FaultKnobs
from syncbridge.sandbox.spec import SandboxRegistry
from syncbridge.sandbox.world import World

from .bynder.support import identity

ORIGIN = "http://127.0.0.1:8000"
BYNDER_URL = f"{ORIGIN}/sandbox/bynder"
CLOUDINARY_URL = f"{ORIGIN}/sandbox/cloudinary"


@pytest.fixture
def world() -> World:
    return World(seed=42, assets_count=12)


@pytest.fixture
def bynder(world: World) -> BynderSimulator:
    return BynderSimulator(world, identity=identity(), write_delay_s=0.01)


@pytest.fixture
def cloudinary(world: World) -> CloudinarySimulator:
    factory = SandboxRegistry.from_entry_points().get("cloudinary").simulator
    sim = factory(world) if factory else None
    assert isinstance(sim, CloudinarySimulator)
    return sim


@pytest.fixture
async def client(
    bynder: BynderSimulator, cloudinary: CloudinarySimulator
) -> AsyncIterator[httpx.AsyncClient]:
    """One shared client on an app that mounts both simulators, as the main app will."""
    outer = Starlette(
        routes=[Mount("/sandbox/bynder", app=bynder), Mount("/sandbox/cloudinary", app=cloudinary)]
    )
    async with create_http_client(transport=httpx.ASGITransport(app=outer)) as http:
        yield http


def build(spec: ConnectorSpec, settings: dict[str, Any], client: httpx.AsyncClient) -> Connector:
    return spec.factory(spec.settings_model(**settings), client)


async def test_bynder_settings_validate_and_check_passes(
    bynder: BynderSimulator, client: httpx.AsyncClient
) -> None:
    settings = bynder.connection_settings(BYNDER_URL)
    model = bynder_spec.settings_model(**settings)
    assert model.model_dump()["base_url"] == BYNDER_URL
    connector = build(bynder_spec, settings, client)
    result = await connector.check()
    assert result.ok, result.detail
    assert result.account["name"] == bynder.account["name"]


async def test_bynder_mounted_reads_writes_and_confirms_sns(
    bynder: BynderSimulator, client: httpx.AsyncClient
) -> None:
    connector = build(bynder_spec, bynder.connection_settings(BYNDER_URL + "/"), client)
    first = await anext(aiter(connector.read("media", None)))
    assert first.records
    target = first.records[0].external_id

    outcome = await connector.write(
        [TagChange("media", target, desired=frozenset({"perf:top-10"}))]
    )
    assert outcome[0].status == "accepted"
    bynder.apply_pending()
    assert "perf:top-10" in bynder.media(target)["tags"]

    headers, body = bynder.subscription_confirmation(signature_version="2")
    assert f'"SubscribeURL" : "{BYNDER_URL}/?Action=ConfirmSubscription' in body.decode()
    assert await connector.parse_webhook(headers, body) == []
    assert len(bynder.topic.confirmed) == 1

    headers, body = bynder.notification("asset_bank.media.updated", target)
    assert f'"SigningCertURL" : "{BYNDER_URL}/SimpleNotificationService-' in body.decode()
    [event] = await connector.parse_webhook(headers, body)
    [record] = await connector.fetch([Ref("media", event.external_id or "")])
    assert record.external_id == target


async def test_bynder_serves_its_certificate_under_the_prefix(
    bynder: BynderSimulator, client: httpx.AsyncClient
) -> None:
    bynder.connection_settings(BYNDER_URL)
    response = await client.get(BYNDER_URL + bynder.topic.cert_path)
    assert response.status_code == 200
    assert response.text == bynder.topic.identity.cert_pem
    # The API below the prefix still requires the token.
    assert (await client.get(BYNDER_URL + "/api/v4/account/")).status_code == 401


def test_bynder_block_follows_injected_retry_after(world: World) -> None:
    plain = BynderSimulator(world, identity=identity())
    faulty = BynderSimulator(
        world, identity=identity(), faults=FaultKnobs(rate_429=0.1, retry_after_s=2)
    )
    assert plain.connection_settings(BYNDER_URL)["rate_limit_block_s"] == 300.0
    assert faulty.connection_settings(BYNDER_URL)["rate_limit_block_s"] == 2.0


async def test_cloudinary_settings_validate_and_check_passes(
    cloudinary: CloudinarySimulator, client: httpx.AsyncClient
) -> None:
    settings = cloudinary.connection_settings(CLOUDINARY_URL)
    model = cloudinary_spec.settings_model(**settings)
    assert model.model_dump()["base_url"] == CLOUDINARY_URL
    result = await build(cloudinary_spec, settings, client).check()
    assert result.ok, result.detail
    assert result.account == {"cloud_name": cloudinary.options.cloud_name, "plan": "Free"}


async def test_cloudinary_mounted_reads_writes_and_delivers(
    cloudinary: CloudinarySimulator, client: httpx.AsyncClient
) -> None:
    connector = build(cloudinary_spec, cloudinary.connection_settings(CLOUDINARY_URL), client)
    first = await anext(aiter(connector.read("resources", None)))
    record = first.records[0]
    url = str(record.data["secure_url"])
    assert url.startswith(f"{CLOUDINARY_URL}/{cloudinary.options.cloud_name}/")
    delivered = await client.get(url)
    assert delivered.status_code == 200
    wrong_version = url.replace(f"/v{record.data['version']}/", "/v1/")
    assert (await client.get(wrong_version)).status_code == 404

    [outcome] = await connector.write(
        [TagChange("resources", record.external_id, desired=frozenset({"perf:top-25"}))]
    )
    assert outcome.status == "applied", outcome.detail
    assert "perf:top-25" in cloudinary.store.by_asset_id[record.external_id].tags


def test_cloudinary_without_a_public_address_keeps_cdn_urls(
    cloudinary: CloudinarySimulator,
) -> None:
    resource = next(iter(cloudinary.store.by_asset_id.values()))
    rendered = cloudinary.store.render(resource)
    assert str(rendered["secure_url"]).startswith("https://res.cloudinary.com/")
