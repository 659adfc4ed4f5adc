"""The simulator's documented behaviour, over raw HTTP (the SDK test covers the happy paths)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
from syncbridge_cloudinary.signatures import sign_params, signed_upload_params
from syncbridge_cloudinary.simulator import CloudinarySimulator

from syncbridge.sandbox.faults import FaultKnobs

from .support import make_simulator

ROOT = "/v1_1/syncbridge-sandbox"


class Clock:
    def __init__(self) -> None:
        self.now = 1_767_225_600.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> CloudinarySimulator:
    return make_simulator(clock=clock)


@pytest.fixture
async def http(sim: CloudinarySimulator) -> AsyncIterator[httpx.AsyncClient]:
    auth = (sim.options.api_key, sim.options.api_secret)
    transport = httpx.ASGITransport(app=sim)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim", auth=auth) as client:
        yield client


def upload_form(sim: CloudinarySimulator, clock: Clock, **params: Any) -> dict[str, Any]:
    signed = signed_upload_params(
        params,
        api_key=sim.options.api_key,
        api_secret=sim.options.api_secret,
        timestamp=int(clock()),
    )
    return {(f"{k}[]" if isinstance(v, list) else k): v for k, v in signed.items()}


def first_image(sim: CloudinarySimulator) -> str:
    return sorted(
        r.public_id for r in sim.store.by_asset_id.values() if r.resource_type == "image"
    )[0]


# ---- Admin API -----------------------------------------------------------------------------


async def test_listing_defaults_to_ten_and_caps_max_results(http: httpx.AsyncClient) -> None:
    assert len((await http.get(f"{ROOT}/resources/image")).json()["resources"]) == 10
    assert (await http.get(f"{ROOT}/resources/image?max_results=500")).status_code == 200
    refused = await http.get(f"{ROOT}/resources/image?max_results=501")
    assert refused.status_code == 400
    assert "max_results" in refused.json()["error"]["message"]


async def test_next_cursor_is_absent_on_the_last_page(
    sim: CloudinarySimulator, http: httpx.AsyncClient
) -> None:
    seen, cursor, pages = [], None, 0
    while True:
        params = {"max_results": 4, **({"next_cursor": cursor} if cursor else {})}
        body = (await http.get(f"{ROOT}/resources/video/upload", params=params)).json()
        seen += [r["asset_id"] for r in body["resources"]]
        pages += 1
        if "next_cursor" not in body:
            break
        cursor = body["next_cursor"]
    videos = [a for a, r in sim.store.by_asset_id.items() if r.resource_type == "video"]
    assert sorted(seen) == sorted(videos)
    assert len(seen) == len(videos)
    assert pages == -(-len(videos) // 4)


async def test_direction_orders_by_creation(http: httpx.AsyncClient) -> None:
    desc = (await http.get(f"{ROOT}/resources/image?max_results=50")).json()["resources"]
    asc = (await http.get(f"{ROOT}/resources/image?max_results=50&direction=asc")).json()
    created = [r["created_at"] for r in desc]
    assert created == sorted(created, reverse=True)
    assert [r["asset_id"] for r in asc["resources"]] == [r["asset_id"] for r in reversed(desc)]


async def test_prefix_filters_and_sorts_by_public_id(http: httpx.AsyncClient) -> None:
    body = (await http.get(f"{ROOT}/resources/image?prefix=Brand/&max_results=500")).json()
    public_ids = [r["public_id"] for r in body["resources"]]
    assert public_ids
    assert all(p.startswith("Brand/") for p in public_ids)
    assert public_ids == sorted(public_ids)


async def test_start_at_with_asc_starts_from_that_moment(http: httpx.AsyncClient) -> None:
    everything = (await http.get(f"{ROOT}/resources/image?max_results=500&direction=asc")).json()
    middle = everything["resources"][len(everything["resources"]) // 2]["created_at"]
    params = {"max_results": 500, "direction": "asc", "start_at": middle.replace("T", " ")[:-1]}
    later = (await http.get(f"{ROOT}/resources/image", params=params)).json()["resources"]
    assert later
    assert all(r["created_at"] >= middle for r in later)


async def test_include_fields_only_when_asked(http: httpx.AsyncClient) -> None:
    bare = (await http.get(f"{ROOT}/resources/image")).json()["resources"][0]
    assert not {"tags", "context", "metadata"} & set(bare)
    assert isinstance(bare["version"], int)
    assert bare["created_at"].endswith("Z")
    full = (await http.get(f"{ROOT}/resources/image?tags=true&context=true")).json()
    assert isinstance(full["resources"][0]["tags"], list)
    assert "custom" in full["resources"][0]["context"]
    fields = (await http.get(f"{ROOT}/resources/image?fields=bytes")).json()["resources"][0]
    assert set(fields) == {"asset_id", "public_id", "bytes"}


async def test_unknown_resource_is_a_404_in_cloudinary_shape(http: httpx.AsyncClient) -> None:
    answer = await http.get(f"{ROOT}/resources/image/upload/no/such")
    assert answer.status_code == 404
    assert answer.json() == {"error": {"message": "Resource not found - no/such"}}
    assert "X-FeatureRateLimit-Remaining" in answer.headers


async def test_bad_credentials_are_a_401(sim: CloudinarySimulator) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim), base_url="http://sim"
    ) as anonymous:
        assert (await anonymous.get(f"{ROOT}/ping")).status_code == 401
        wrong = await anonymous.get(f"{ROOT}/ping", auth=(sim.options.api_key, "nope"))
    assert wrong.status_code == 401
    assert wrong.json() == {"error": {"message": "api_secret mismatch"}}


async def test_budget_headers_count_down_and_reset_each_window(
    clock: Clock, http: httpx.AsyncClient
) -> None:
    first = await http.get(f"{ROOT}/ping")
    second = await http.get(f"{ROOT}/ping")
    assert first.headers["X-FeatureRateLimit-Limit"] == "500"
    assert int(first.headers["X-FeatureRateLimit-Remaining"]) == 499
    assert int(second.headers["X-FeatureRateLimit-Remaining"]) == 498
    reset = parsedate_to_datetime(first.headers["X-FeatureRateLimit-Reset"]).timestamp()
    assert reset == clock.now + 3600
    clock.now = reset
    assert (await http.get(f"{ROOT}/ping")).headers["X-FeatureRateLimit-Remaining"] == "499"


@pytest.mark.parametrize("status", [420, 429])
async def test_spent_budget_is_refused(clock: Clock, status: int) -> None:
    sim = make_simulator(clock=clock, admin_rate_limit=1, rate_limit_status=status)
    auth = (sim.options.api_key, sim.options.api_secret)
    transport = httpx.ASGITransport(app=sim)
    async with httpx.AsyncClient(transport=transport, base_url="http://s", auth=auth) as client:
        assert (await client.get(f"{ROOT}/ping")).status_code == 200
        refused = await client.get(f"{ROOT}/ping")
    assert refused.status_code == status
    assert refused.json() == {"error": {"message": "Rate Limit Exceeded"}}
    assert refused.headers["X-FeatureRateLimit-Remaining"] == "0"


async def test_by_asset_ids_caps_at_a_hundred(
    sim: CloudinarySimulator, http: httpx.AsyncClient
) -> None:
    ids = sorted(sim.store.by_asset_id)
    found = await http.get(f"{ROOT}/resources/by_asset_ids", params={"asset_ids[]": ids[:3]})
    assert sorted(r["asset_id"] for r in found.json()["resources"]) == ids[:3]
    posted = await http.post(f"{ROOT}/resources/by_asset_ids", json={"asset_ids": ids[:2]})
    assert len(posted.json()["resources"]) == 2
    many = await http.get(f"{ROOT}/resources/by_asset_ids", params={"asset_ids[]": ["a"] * 101})
    assert many.status_code == 400


# ---- Upload API ----------------------------------------------------------------------------


async def test_tags_commands(
    sim: CloudinarySimulator, clock: Clock, http: httpx.AsyncClient
) -> None:
    public_id = first_image(sim)
    resource = sim.resource(public_id)
    kept = list(resource.tags)

    async def tags(command: str, tag: str = "") -> httpx.Response:
        form = upload_form(sim, clock, command=command, tag=tag, public_ids=[public_id])
        return await http.post(f"{ROOT}/image/tags", data=form)

    assert (await tags("add", "perf:a,perf:b")).json() == {"public_ids": [public_id]}
    assert resource.tags == [*kept, "perf:a", "perf:b"]
    await tags("remove", "perf:a")
    assert resource.tags == [*kept, "perf:b"]
    await tags("replace", "x,y")
    assert resource.tags == ["x", "y"]
    await tags("remove_all")
    assert resource.tags == []
    assert (await tags("explode", "x")).status_code == 400


async def test_set_exclusive_moves_a_tag(
    sim: CloudinarySimulator, clock: Clock, http: httpx.AsyncClient
) -> None:
    images = sorted(
        r.public_id for r in sim.store.by_asset_id.values() if r.resource_type == "image"
    )
    for public_id, command in ((images[0], "add"), (images[1], "set_exclusive")):
        form = upload_form(sim, clock, command=command, tag="hero", public_ids=[public_id])
        assert (await http.post(f"{ROOT}/image/tags", data=form)).status_code == 200
    assert "hero" not in sim.resource(images[0]).tags
    assert "hero" in sim.resource(images[1]).tags


async def test_upload_calls_need_a_valid_fresh_signature(
    sim: CloudinarySimulator, clock: Clock, http: httpx.AsyncClient
) -> None:
    public_id = first_image(sim)
    form = upload_form(sim, clock, command="add", tag="perf:x", public_ids=[public_id])
    forged = {**form, "tag": "perf:y"}
    answer = await http.post(f"{ROOT}/image/tags", data=forged)
    assert answer.status_code == 401
    assert answer.json()["error"]["message"].startswith("Invalid Signature")
    unknown = await http.post(f"{ROOT}/image/tags", data={**form, "api_key": "1"})
    assert unknown.status_code == 401
    clock.now += 3601
    stale = await http.post(f"{ROOT}/image/tags", data=form)
    assert stale.status_code == 400
    assert stale.json()["error"]["message"].startswith("Stale request")
    assert "perf:x" not in sim.resource(public_id).tags
    assert "perf:y" not in sim.resource(public_id).tags


@pytest.mark.parametrize(
    "timestamp", ["\u00b2", "\uff11\uff17\uff16\uff17\uff12\uff12\uff15\uff16\uff10\uff10"]
)
async def test_upload_timestamp_of_non_ascii_digits_is_a_400(
    sim: CloudinarySimulator, http: httpx.AsyncClient, timestamp: str
) -> None:
    params = {
        "command": "add",
        "tag": "perf:x",
        "public_ids": first_image(sim),
        "timestamp": timestamp,
    }
    signature = sign_params(params, sim.options.api_secret)
    form = {**params, "signature": signature, "api_key": sim.options.api_key}
    answer = await http.post(f"{ROOT}/image/tags", data=form)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == "Invalid timestamp"


async def test_too_many_public_ids_are_refused(
    sim: CloudinarySimulator, clock: Clock, http: httpx.AsyncClient
) -> None:
    form = upload_form(
        sim, clock, command="add", tag="t", public_ids=[f"p{i}" for i in range(1001)]
    )
    assert (await http.post(f"{ROOT}/image/tags", data=form)).status_code == 400


async def test_context_escapes_and_metadata_validation(
    sim: CloudinarySimulator, clock: Clock, http: httpx.AsyncClient
) -> None:
    public_id = first_image(sim)
    context = upload_form(
        sim, clock, command="add", context="note=a\\=b\\|c|alt=", public_ids=[public_id]
    )
    assert (await http.post(f"{ROOT}/image/context", data=context)).status_code == 200
    assert sim.resource(public_id).context == {
        "note": "a=b|c",
        "campaign": sim.resource(public_id).context["campaign"],
    }
    unknown_field = upload_form(sim, clock, metadata="rights=x", public_ids=[public_id])
    assert (await http.post(f"{ROOT}/image/metadata", data=unknown_field)).status_code == 400
    good = upload_form(sim, clock, metadata="performance_tier=middle", public_ids=[public_id])
    assert (await http.post(f"{ROOT}/image/metadata", data=good)).status_code == 200
    listed = await http.get(f"{ROOT}/resources/image/upload/{public_id}?metadata=true")
    assert listed.json()["metadata"] == {"performance_tier": "middle"}


async def test_metadata_fields_offer_the_performance_tier(http: httpx.AsyncClient) -> None:
    (field,) = (await http.get(f"{ROOT}/metadata_fields")).json()["metadata_fields"]
    assert field["external_id"] == "performance_tier"
    assert field["type"] == "enum"
    assert "top-10" in {v["external_id"] for v in field["datasource"]["values"]}


async def test_injected_faults_use_the_cloudinary_error_shape() -> None:
    sim = make_simulator(faults=FaultKnobs(rate_5xx=1.0))
    transport = httpx.ASGITransport(app=sim)
    async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
        answer = await client.get(f"{ROOT}/ping")
    assert answer.status_code == 503
    assert set(answer.json()) == {"error"}
    assert "message" in answer.json()["error"]


def test_sandbox_info_names_what_a_connection_needs() -> None:
    info = make_simulator(assets=1).sandbox_info
    assert {"cloud_name", "api_key", "api_secret", "upload_prefix", "base_url"} <= set(info)


def test_notifications_are_stamped_now() -> None:
    sim = make_simulator(assets=5)
    headers, _ = sim.notification("upload", first_image(sim))
    assert abs(int(headers["X-Cld-Timestamp"]) - time.time()) < 60
