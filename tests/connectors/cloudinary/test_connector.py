"""The Cloudinary connector against its simulator: reads, writes, checks and bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import ValidationError
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import Receive, Scope, Send
from syncbridge_cloudinary.connector import CloudinaryConnector
from syncbridge_cloudinary.read_position import ReadPosition
from syncbridge_cloudinary.simulator import CloudinarySimulator

from syncbridge.connector.errors import (
    AuthError,
    PermanentConnectorError,
    TransientConnectorError,
)
from syncbridge.connector.http import RetryPolicy
from syncbridge.connector.ratelimit import override_time
from syncbridge.connector.testing import FakeClock, ids_of, read_all
from syncbridge.connector.types import Ref, TagChange
from syncbridge.sandbox.faults import FaultKnobs

from .support import (
    PAGE_SIZE,
    client_for,
    connector_for,
    human,
    make_simulator,
    owned,
    settings_for,
)


@pytest.fixture
def sim() -> CloudinarySimulator:
    return make_simulator()


@pytest.fixture
async def client(sim: CloudinarySimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(sim) as shared:
        yield shared


@pytest.fixture
def connector(sim: CloudinarySimulator, client: httpx.AsyncClient) -> CloudinaryConnector:
    return connector_for(sim, client)


def of_type(sim: CloudinarySimulator, resource_type: str) -> list[str]:
    return sorted(a for a, r in sim.store.by_asset_id.items() if r.resource_type == resource_type)


# ---- check and reads ----------------------------------------------------------------------


async def test_check_names_the_cloud_and_plan(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    result = await connector.check()
    assert result.ok
    assert result.account == {"cloud_name": sim.options.cloud_name, "plan": "Free"}
    assert (sim.calls["admin:ping"], sim.calls["admin:usage"]) == (1, 1)


async def test_read_walks_each_resource_type_with_includes(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    pages = await read_all(connector, "resources")
    records = [r for p in pages for r in p.records]
    assert [r.data["resource_type"] for r in records] == sorted(
        (r.data["resource_type"] for r in records), key=["image", "video", "raw"].index
    )
    assert all(len(p.records) <= PAGE_SIZE for p in pages)
    assert sim.calls["admin:resources"] == len(pages)
    for record in records:
        held = sim.store.by_asset_id[record.external_id]
        assert record.data["tags"] == held.tags
        assert record.data["context"] == {"custom": held.context}


async def test_a_type_boundary_cursor_resumes_at_the_next_type(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    pages = await read_all(connector, "resources")
    last_image = max(
        i for i, p in enumerate(pages) if p.records[0].data["resource_type"] == "image"
    )
    cursor = pages[last_image].next_cursor
    assert ReadPosition.decode(cursor, ["image", "video", "raw"]) == ReadPosition("video")
    rest = ids_of(await read_all(connector, "resources", cursor))
    assert sorted(rest) == sorted(of_type(sim, "video") + of_type(sim, "raw"))


async def test_only_configured_resource_types_are_read(
    sim: CloudinarySimulator, client: httpx.AsyncClient
) -> None:
    connector = connector_for(sim, client, resource_types=["raw"])
    assert sorted(ids_of(await read_all(connector, "resources"))) == of_type(sim, "raw")


@pytest.mark.parametrize("cursor", ["not json", '{"rt": "audio", "nc": null}', "[1]"])
async def test_unusable_cursor_is_refused(connector: CloudinaryConnector, cursor: str) -> None:
    with pytest.raises(PermanentConnectorError):
        await read_all(connector, "resources", cursor)


async def test_unknown_stream_is_refused(connector: CloudinaryConnector) -> None:
    with pytest.raises(PermanentConnectorError):
        await read_all(connector, "folders")


async def test_fetch_by_public_id_returns_the_asset_id_record(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    asset_id = of_type(sim, "video")[0]
    public_id = sim.store.by_asset_id[asset_id].public_id
    (record,) = await connector.fetch([Ref("resources", public_id)])
    assert record.external_id == asset_id


async def test_a_fetched_record_is_the_read_record_by_asset_or_public_id(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    # A video, so the public-id lookup first asks the image listing in vain.
    asset_id = next(a for a in of_type(sim, "video") if sim.store.by_asset_id[a].context)
    held = sim.store.by_asset_id[asset_id]
    sim.store.set_metadata({"performance_tier": "top-10"}, [held])
    read = {r.external_id: r for p in await read_all(connector, "resources") for r in p.records}
    (by_asset,) = await connector.fetch([Ref("resources", asset_id)])
    (by_name,) = await connector.fetch([Ref("resources", held.public_id)])
    assert by_name.external_id == by_asset.external_id == asset_id
    assert by_asset.data == read[asset_id].data
    assert by_name.data == read[asset_id].data
    assert {"tags", "context", "metadata"} <= set(by_name.data)


async def test_fetch_by_public_ids_uses_one_listing_call_per_resource_type(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    wanted = [of_type(sim, rt)[0] for rt in ("image", "video", "raw")]
    names = [sim.store.by_asset_id[a].public_id for a in wanted]
    records = await connector.fetch([Ref("resources", n) for n in [*names, "no/such/asset"]])
    assert [r.external_id for r in records] == wanted
    # Each type is asked for the names still unfound, all in one call; no details calls.
    assert sim.calls["admin:resources"] == 3
    assert sim.calls["admin:resource"] == 0


# ---- writes -------------------------------------------------------------------------------


async def test_identical_changes_share_one_tags_call(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    images = of_type(sim, "image")
    before = {a: list(sim.store.by_asset_id[a].tags) for a in images}
    outcomes = await connector.write(
        [TagChange("resources", a, frozenset({"perf:top-10"})) for a in images]
    )
    assert {o.status for o in outcomes} == {"applied"}
    assert sim.calls["upload:tags"] == 1
    assert sim.calls["admin:by_asset_ids"] == 1
    for asset_id in images:
        assert sim.store.by_asset_id[asset_id].tags == [*before[asset_id], "perf:top-10"]


async def test_changes_group_by_operation_and_resource_type(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    images, videos = of_type(sim, "image")[:4], of_type(sim, "video")[:2]
    changes = [
        TagChange("resources", images[0], frozenset({"perf:top-10"})),
        TagChange("resources", images[1], frozenset({"perf:top-10"})),
        TagChange("resources", images[2], frozenset({"perf:middle"})),
        TagChange("resources", images[3], frozenset({"perf:middle"})),
        TagChange("resources", videos[0], frozenset({"perf:middle"})),
        TagChange("resources", videos[1], frozenset({"perf:middle"})),
    ]
    await connector.write(changes)
    assert sim.calls["upload:tags"] == 3


async def test_owned_tags_are_replaced_and_human_tags_kept(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    asset_id = of_type(sim, "image")[0]
    people = human(sim.store.by_asset_id[asset_id].tags)
    sim.set_tags(asset_id, [*people, "perf:bottom-25", "perf:rising"])
    (outcome,) = await connector.write(
        [TagChange("resources", asset_id, frozenset({"perf:top-10", "perf:rising"}))]
    )
    assert outcome.status == "applied"
    tags = sim.store.by_asset_id[asset_id].tags
    assert human(tags) == people
    assert owned(tags) == {"perf:top-10", "perf:rising"}
    assert sim.calls["upload:tags"] == 2  # one add, one remove; never replace or remove_all


async def test_nothing_to_change_is_skipped_without_a_write_call(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    asset_id = of_type(sim, "image")[0]
    change = TagChange("resources", asset_id, frozenset({"perf:top-25"}))
    await connector.write([change])
    calls = sim.calls["upload:tags"]
    (again,) = await connector.write([change])
    assert again.status == "skipped"
    assert sim.calls["upload:tags"] == calls


async def test_more_than_a_thousand_assets_take_two_calls() -> None:
    big = make_simulator(assets=1500)
    async with client_for(big) as big_client:
        connector = connector_for(big, big_client)
        images = of_type(big, "image")
        assert len(images) > 1000
        outcomes = await connector.write(
            [TagChange("resources", a, frozenset({"perf:middle"})) for a in images]
        )
    assert {o.status for o in outcomes} == {"applied"}
    assert big.calls["upload:tags"] == 2
    assert all("perf:middle" in big.store.by_asset_id[a].tags for a in images)


async def test_refused_changes_make_no_call(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    asset_id = of_type(sim, "image")[0]
    outcomes = await connector.write(
        [
            TagChange("resources", asset_id, frozenset({"perf:top-10", "summer"})),
            TagChange("resources", "0" * 32, frozenset({"perf:top-10"})),
        ]
    )
    assert [o.status for o in outcomes] == ["failed", "failed"]
    assert not any(o.retryable for o in outcomes)
    assert "owned namespace" in (outcomes[0].detail or "")
    assert outcomes[1].detail == "resource not found"
    assert sim.calls["upload:tags"] == 0
    assert "summer" not in sim.store.by_asset_id[asset_id].tags


async def test_owned_metadata_field_is_set_and_others_left_alone(
    sim: CloudinarySimulator, client: httpx.AsyncClient
) -> None:
    connector = connector_for(sim, client, owned_metadata_field="performance_tier")
    asset_id = of_type(sim, "image")[0]
    change = TagChange(
        "resources",
        asset_id,
        frozenset(),
        metadata={"performance_tier": "top-10", "rights": "cleared"},
    )
    (outcome,) = await connector.write([change])
    assert outcome.status == "applied"
    assert sim.store.by_asset_id[asset_id].metadata == {"performance_tier": "top-10"}
    assert (await connector.write([change]))[0].status == "skipped"
    assert sim.calls["upload:metadata"] == 1


async def test_owned_context_keys_are_set_and_people_s_context_kept(
    sim: CloudinarySimulator, client: httpx.AsyncClient
) -> None:
    connector = connector_for(sim, client, owned_context_keys=["perf_tier", "perf_rank"])
    asset_id = of_type(sim, "image")[0]
    people = dict(sim.store.by_asset_id[asset_id].context)
    assert people, "the sandbox gives assets an alt text and a campaign"
    change = TagChange(
        "resources",
        asset_id,
        frozenset(),
        metadata={"perf_tier": "top|10=a", "alt": "not ours", "perf_rank": None},
    )
    (outcome,) = await connector.write([change])
    assert outcome.status == "applied", outcome.detail
    assert sim.store.by_asset_id[asset_id].context == {**people, "perf_tier": "top|10=a"}
    (record,) = await connector.fetch([Ref("resources", asset_id)])
    assert record.data["context"]["custom"]["perf_tier"] == "top|10=a"
    assert (await connector.write([change]))[0].status == "skipped"
    assert sim.calls["upload:context"] == 1


def test_a_key_cannot_be_owned_twice() -> None:
    with pytest.raises(ValidationError, match="both"):
        settings_for(make_simulator(assets=1), owned_metadata_field="t", owned_context_keys=["t"])


async def test_metadata_is_untouched_without_an_owned_field(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    asset_id = of_type(sim, "image")[0]
    change = TagChange("resources", asset_id, frozenset(), metadata={"performance_tier": "top-10"})
    assert (await connector.write([change]))[0].status == "skipped"
    assert sim.store.by_asset_id[asset_id].metadata == {}


async def test_a_value_the_vendor_refuses_fails_that_change_only(
    sim: CloudinarySimulator, client: httpx.AsyncClient
) -> None:
    connector = connector_for(sim, client, owned_metadata_field="performance_tier")
    first, second = of_type(sim, "image")[:2]
    outcomes = await connector.write(
        [
            TagChange("resources", first, frozenset(), metadata={"performance_tier": "bogus"}),
            TagChange("resources", second, frozenset({"perf:top-10"})),
        ]
    )
    assert [(o.status, o.retryable) for o in outcomes] == [("failed", False), ("applied", False)]


async def test_write_with_wrong_secret_raises_auth_error(
    sim: CloudinarySimulator, client: httpx.AsyncClient
) -> None:
    connector = connector_for(sim, client, api_secret="wrong")
    with pytest.raises(AuthError):
        await connector.write([TagChange("resources", of_type(sim, "image")[0], frozenset())])


# ---- bad input ------------------------------------------------------------------------------


async def test_wrong_credentials_fail_the_check(
    sim: CloudinarySimulator, client: httpx.AsyncClient
) -> None:
    with pytest.raises(AuthError):
        await connector_for(sim, client, api_key="123").check()


async def test_unreachable_host_is_transient(sim: CloudinarySimulator) -> None:
    async with httpx.AsyncClient() as real:
        connector = connector_for(
            sim, real, base_url="http://127.0.0.1:9", retry=RetryPolicy(attempts=2, base_s=0.001)
        )
        with pytest.raises(TransientConnectorError):
            await connector.check()


async def garbage(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("<html>maintenance</html>")(scope, receive, send)


async def test_vendor_garbage_is_permanent(sim: CloudinarySimulator) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=garbage)) as odd:
        connector = connector_for(sim, odd)
        with pytest.raises(PermanentConnectorError, match="garbage"):
            await read_all(connector, "resources")


@pytest.mark.parametrize(
    "resource",
    [{"public_id": "a"}, {"asset_id": 7, "public_id": "a"}, {"asset_id": ""}, ["asset_id"], "a"],
)
async def test_a_listed_resource_without_an_asset_id_is_permanent(
    sim: CloudinarySimulator, resource: object
) -> None:
    listing = {"resources": [{"asset_id": "0" * 32, "public_id": "ok"}, resource]}

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        await JSONResponse(listing)(scope, receive, send)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=answer)) as odd:
        connector = connector_for(sim, odd)
        with pytest.raises(PermanentConnectorError, match="without asset_id"):
            await read_all(connector, "resources")
        with pytest.raises(PermanentConnectorError, match="without asset_id"):
            await connector.fetch([Ref("resources", "0" * 32)])


async def test_429_storm_waits_and_completes(connector: CloudinaryConnector) -> None:
    clean = ids_of(await read_all(connector, "resources"))
    stormy = make_simulator(faults=FaultKnobs(rate_429=0.5, retry_after_s=2, seed=3))
    clock = FakeClock()
    async with client_for(stormy) as client:
        with override_time(clock.source):
            patient = connector_for(stormy, client, retry=RetryPolicy(attempts=12))
        assert ids_of(await read_all(patient, "resources")) == clean
    assert stormy.faults is not None
    assert stormy.faults.injected["429"] > 0
    # Each 429 paused every caller for its Retry-After before the next call went out.
    assert clock.now >= 2.0 * stormy.faults.injected["429"]


@pytest.mark.parametrize("status", [420, 429])
async def test_spent_admin_budget_waits_for_the_reset(status: int) -> None:
    clock = FakeClock()
    sim = make_simulator(admin_rate_limit=3, rate_limit_status=status, clock=clock.wall)
    async with client_for(sim) as client:
        for _ in range(3):  # another client spends this hour's budget first
            await client.get(
                "http://x/v1_1/syncbridge-sandbox/ping",
                auth=(sim.options.api_key, sim.options.api_secret),
            )
        with override_time(clock.source):
            connector = connector_for(sim, client)
        pages = await read_all(connector, "resources")
    assert sorted(ids_of(pages)) == sorted(sim.store.by_asset_id)
    assert sim.budget.refused == 1, "one refusal, then the limiter keeps under the budget"
    # Seven pages at three calls an hour, the first hour already spent: four windows.
    assert len(pages) == 7
    assert clock.now >= 3 * 3600
