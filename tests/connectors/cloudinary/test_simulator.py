"""The simulator's documented behaviour, over raw HTTP (the SDK test covers the happy paths)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from starlette.responses import JSONResponse
from syncbridge_cloudinary.signatures import sign_params, signed_upload_params
from syncbridge_cloudinary.simulator import CloudinarySimulator
from syncbridge_cloudinary.simulator_render import DETAILS, Shape
from syncbridge_cloudinary.simulator_store import SimResource

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
    url = f"{ROOT}/resources/image/upload?prefix=Brand/&max_results=500"
    body = (await http.get(url)).json()
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
    assert posted.status_code == 405
    assert posted.json() == {"error": {"message": "Method Not Allowed"}}
    many = await http.get(f"{ROOT}/resources/by_asset_ids", params={"asset_ids[]": ["a"] * 101})
    assert many.status_code == 400


# ---- Admin API: every parameter honoured or refused, never ignored -------------------------


def _images(sim: CloudinarySimulator) -> list[SimResource]:
    return sorted(
        (r for r in sim.store.by_asset_id.values() if r.resource_type == "image"),
        key=lambda r: r.public_id,
    )


def _routes(sim: CloudinarySimulator) -> list[str]:
    """One URL of every Admin API read the simulator serves."""
    held = _images(sim)[0]
    return [
        f"{ROOT}/ping",
        f"{ROOT}/usage",
        f"{ROOT}/metadata_fields",
        f"{ROOT}/resources",
        f"{ROOT}/resources/image",
        f"{ROOT}/resources/image/upload",
        f"{ROOT}/resources/image/tags/email",
        f"{ROOT}/resources/image/context?key=campaign",
        f"{ROOT}/resources/by_asset_ids?asset_ids[]={held.asset_id}",
        f"{ROOT}/resources/by_asset_folder?asset_folder={held.asset_folder}",
        f"{ROOT}/resources/{held.asset_id}",
        f"{ROOT}/resources/image/upload/{held.public_id}",
        f"{ROOT}/tags/image",
    ]


async def test_every_admin_read_refuses_a_parameter_it_does_not_take(
    sim: CloudinarySimulator, http: httpx.AsyncClient
) -> None:
    for url in _routes(sim):
        assert (await http.get(url)).status_code == 200, url
        joiner = "&" if "?" in url else "?"
        refused = await http.get(f"{url}{joiner}colour=red")
        assert refused.status_code == 400, url
        assert refused.json() == {"error": {"message": "Unknown parameter - colour"}}, url


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("max_results=0", "max_results must be a positive integer"),
        ("max_results=ten", "max_results must be a positive integer"),
        ("max_results=\u00b2", "max_results must be a positive integer"),
        ("max_results=" + "9" * 5000, "max_results must be a positive integer"),
        ("max_results=5&max_results=6", "Parameter max_results given more than once"),
        ("direction=sideways", "direction must be asc or desc"),
        ("tags=yes", "Invalid value yes for parameter tags"),
        ("start_at=last-tuesday", "start_at must be yyyy-mm-dd hh:mm:ss"),
        ("next_cursor=zz", "Invalid next_cursor"),
        ("next_cursor=" + "ab" * 2000, "Invalid next_cursor"),
        ("fields=bytes,sparkle", "fields: unknown field sparkle"),
        ("fields=pixels", "fields: pixels is not served by this simulator"),
        ("moderations=true", "moderations: the simulator holds no moderation data"),
        ("type=bogus", "Invalid type bogus"),
        ("prefix=Web/", "prefix requires type (the delivery type)"),
        ("type=upload&prefix=Web/&start_at=2026-01-01", "start_at is not supported together"),
        ("public_ids[]=a&max_results=5", "max_results is not supported together with public_ids"),
        ("public_ids[]=a&direction=asc", "direction is not supported together with public_ids"),
        ("&".join(f"public_ids[]=p{i}" for i in range(101)), "Too many public_ids (max 100)"),
    ],
)
async def test_listing_values_outside_their_domain_are_refused(
    http: httpx.AsyncClient, query: str, message: str
) -> None:
    answer = await http.get(f"{ROOT}/resources/image?{query}")
    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith(message)


async def test_a_forged_cursor_of_the_right_shape_but_wrong_types_is_a_400(
    http: httpx.AsyncClient,
) -> None:
    forged = json.dumps(["t", True, None, ["x", 1]]).encode().hex()
    answer = await http.get(f"{ROOT}/resources/image", params={"next_cursor": forged})
    assert answer.status_code == 400
    assert answer.json() == {"error": {"message": "Invalid next_cursor"}}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("/resources/image?direction=asc", "/resources/image?direction=desc"),
        ("/resources/image/upload?prefix=Events/", "/resources/image/upload?prefix=Social/"),
        ("/resources/image", "/resources/image?start_at=2026-01-01"),
        ("/resources/image", "/tags/image"),
    ],
)
async def test_a_cursor_only_continues_the_listing_that_gave_it(
    http: httpx.AsyncClient, first: str, second: str
) -> None:
    # httpx's ``params`` would replace a URL's query string: append to it instead.
    joiner = "&" if "?" in first else "?"
    page = (await http.get(f"{ROOT}{first}{joiner}max_results=1")).json()
    cursor = page["next_cursor"]
    joiner = "&" if "?" in second else "?"
    answer = await http.get(f"{ROOT}{second}{joiner}next_cursor={cursor}")
    assert answer.status_code == 400
    assert answer.json() == {"error": {"message": "Invalid next_cursor"}}


async def test_start_at_lists_what_was_created_since_in_either_direction(
    http: httpx.AsyncClient,
) -> None:
    everything = (await http.get(f"{ROOT}/resources/image?max_results=500")).json()["resources"]
    middle = everything[len(everything) // 2]["created_at"]
    since = [r["asset_id"] for r in everything if r["created_at"] >= middle]
    params = {"max_results": 500, "start_at": middle.replace("T", " ")[:-1]}
    newest_first = (await http.get(f"{ROOT}/resources/image", params=params)).json()
    assert [r["asset_id"] for r in newest_first["resources"]] == since


async def test_resources_by_public_ids_answer_only_those_that_exist(
    sim: CloudinarySimulator, http: httpx.AsyncClient
) -> None:
    wanted = [r.public_id for r in _images(sim)[:3]]
    asked = [wanted[2], "no/such", wanted[0], wanted[2]]
    for name in ("public_ids[]", "public_ids"):
        found = await http.get(f"{ROOT}/resources/image/upload", params={name: asked})
        assert found.status_code == 200
        assert [r["public_id"] for r in found.json()["resources"]] == [wanted[2], wanted[0]]
        assert "next_cursor" not in found.json()
    private = await http.get(f"{ROOT}/resources/image/private", params={"public_ids[]": wanted})
    assert private.json() == {"resources": []}


async def test_other_delivery_types_list_nothing_and_unknown_ones_are_refused(
    http: httpx.AsyncClient,
) -> None:
    assert (await http.get(f"{ROOT}/resources/image/private")).json() == {"resources": []}
    assert (await http.get(f"{ROOT}/resources/image?type=authenticated")).json() == {
        "resources": []
    }
    bogus = await http.get(f"{ROOT}/resources/image/bogus")
    assert bogus.status_code == 400
    assert bogus.json() == {"error": {"message": "Invalid type bogus"}}


async def test_listing_by_tag_context_and_folder_pages_to_the_end(
    sim: CloudinarySimulator, http: httpx.AsyncClient
) -> None:
    images = _images(sim)
    folder = images[0].asset_folder
    in_folder = [r for r in sim.store.by_asset_id.values() if r.asset_folder == folder]
    cases: list[tuple[str, dict[str, str], list[SimResource]]] = [
        ("/resources/image/tags/email", {}, [r for r in images if "email" in r.tags]),
        ("/resources/image/context", {"key": "alt"}, images),
        ("/resources/by_asset_folder", {"asset_folder": folder}, in_folder),
        (
            "/resources/by_asset_folder",
            {"asset_folder": folder, "resource_type": "image"},
            [r for r in in_folder if r.resource_type == "image"],
        ),
    ]
    for path, given, expected in cases:
        seen: list[str] = []
        cursor = None
        while True:
            params = {**given, "max_results": "2", "direction": "asc"}
            if cursor:
                params["next_cursor"] = cursor
            page = (await http.get(f"{ROOT}{path}", params=params)).json()
            assert len(page["resources"]) <= 2
            seen += [r["asset_id"] for r in page["resources"]]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        ordered = sorted(expected, key=lambda r: (r.created_at, r.asset_id))
        assert seen == [r.asset_id for r in ordered], (path, given)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/resources/image/context", "Missing required parameter - key"),
        ("/resources/image/tags", "Missing required parameter - tag"),
        ("/resources/by_asset_folder", "Missing required parameter - asset_folder"),
        ("/resources/by_asset_ids", "Missing required parameter - asset_ids"),
        ("/resources/image/tags/email?prefix=a", "Unknown parameter - prefix"),
        ("/resources/image/tags/email?start_at=2026-01-01", "Unknown parameter - start_at"),
        ("/resources/by_asset_ids?asset_ids[]=a&max_results=5", "Unknown parameter - max_results"),
        ("/resources/image/moderations/manual/pending", "Moderation queues are not available"),
        ("/tags/image?max_results=501", "max_results must be at most 500"),
    ],
)
async def test_family_requests_missing_or_beyond_what_the_route_takes_are_refused(
    http: httpx.AsyncClient, url: str, message: str
) -> None:
    answer = await http.get(f"{ROOT}{url}")
    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith(message)


async def test_tags_listing_pages_alphabetically_with_a_prefix(
    sim: CloudinarySimulator, http: httpx.AsyncClient
) -> None:
    in_use = sorted({t for r in _images(sim) for t in r.tags})
    listed: list[str] = []
    cursor = None
    while True:
        params = {"max_results": 4, **({"next_cursor": cursor} if cursor else {})}
        body = (await http.get(f"{ROOT}/tags/image", params=params)).json()
        listed += body["tags"]
        cursor = body.get("next_cursor")
        if not cursor:
            break
    assert listed == in_use
    prefixed = (await http.get(f"{ROOT}/tags/image?prefix=s&max_results=500")).json()
    assert prefixed == {"tags": [t for t in in_use if t.startswith("s")]}
    assert (await http.get(f"{ROOT}/tags/movie")).status_code == 404


async def test_resource_details_carry_tags_and_refuse_what_they_cannot_answer(
    sim: CloudinarySimulator, http: httpx.AsyncClient
) -> None:
    held = _images(sim)[0]
    url = f"{ROOT}/resources/image/upload/{held.public_id}"
    details = (await http.get(url, params={"colors": "false", "max_results": 5})).json()
    assert details["tags"] == held.tags
    assert details["context"] == {"custom": held.context}
    assert details["derived"] == []
    for params, message in [
        ({"colors": "true"}, "colors: not available in this simulator"),
        ({"tags": "false"}, "tags: details always include tags"),
        ({"derived_next_cursor": "abc"}, "Invalid derived_next_cursor"),
        ({"max_results": "0"}, "max_results must be a positive integer"),
    ]:
        refused = await http.get(url, params=params)
        assert refused.status_code == 400
        assert refused.json() == {"error": {"message": message}}


async def test_fields_naming_tags_includes_them(
    sim: CloudinarySimulator, http: httpx.AsyncClient
) -> None:
    body = (await http.get(f"{ROOT}/resources/image?fields=tags,bytes")).json()
    first = body["resources"][0]
    assert set(first) == {"asset_id", "public_id", "tags", "bytes"}
    assert first["tags"] == sim.store.by_asset_id[first["asset_id"]].tags


async def test_by_asset_ids_filters_by_resource_type(
    sim: CloudinarySimulator, http: httpx.AsyncClient
) -> None:
    image = _images(sim)[0]
    video = next(r for r in sim.store.by_asset_id.values() if r.resource_type == "video")
    params = {"asset_ids[]": [image.asset_id, video.asset_id], "resource_type": "video"}
    found = await http.get(f"{ROOT}/resources/by_asset_ids", params=params)
    assert [r["asset_id"] for r in found.json()["resources"]] == [video.asset_id]


async def test_resource_types_in_use(http: httpx.AsyncClient) -> None:
    body = (await http.get(f"{ROOT}/resources")).json()
    assert body == {"resource_types": ["image", "video", "raw"]}


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("GET", "/v1_1/syncbridge-sandbox/nowhere", 404, "Not Found"),
        ("GET", "/v1_1/syncbridge-sandbox/usage/2026-01", 404, "Not Found"),
        ("DELETE", f"{ROOT}/resources/image/upload", 405, "Method Not Allowed"),
        ("GET", f"{ROOT}/resources/video2", 404, "Resource not found - video2"),
        ("GET", f"{ROOT}/resources/video2/upload", 404, "Invalid resource type video2"),
    ],
)
async def test_paths_and_methods_not_served_answer_in_cloudinary_shape(
    http: httpx.AsyncClient, method: str, path: str, status: int, message: str
) -> None:
    answer = await http.request(method, path)
    assert answer.status_code == status
    assert answer.json() == {"error": {"message": message}}


async def test_a_retag_moves_the_resource_between_tag_listings(
    sim: CloudinarySimulator, http: httpx.AsyncClient
) -> None:
    held = _images(sim)[0]
    sim.set_tags(held.asset_id, ["fresh-tag"])
    tagged = (await http.get(f"{ROOT}/resources/image/tags/fresh-tag")).json()["resources"]
    assert [r["asset_id"] for r in tagged] == [held.asset_id]
    assert "fresh-tag" in (await http.get(f"{ROOT}/tags/image?max_results=500")).json()["tags"]
    sim.set_tags(held.asset_id, [])
    assert (await http.get(f"{ROOT}/resources/image/tags/fresh-tag")).json() == {"resources": []}
    assert "fresh-tag" not in (await http.get(f"{ROOT}/tags/image?max_results=500")).json()["tags"]


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


async def test_upload_fields_the_sdk_does_not_send_are_refused_after_the_signature(
    sim: CloudinarySimulator, clock: Clock, http: httpx.AsyncClient
) -> None:
    public_id = first_image(sim)
    cases = [
        ("tags", {"command": "add", "tag": "x", "colour": "red"}, "Unknown parameter - colour"),
        ("tags", {"command": "add", "tag": "x", "notification_url": "http://n.test/"}, None),
        ("tags", {"command": "add", "tag": "x", "type": "bogus"}, "Invalid type bogus"),
        ("context", {"command": "add", "context": "k=v", "batch_id": "b1"}, None),
        ("metadata", {"metadata": "performance_tier=middle", "clear_invalid": "true"}, None),
    ]
    for what, params, message in cases:
        form = upload_form(sim, clock, public_ids=[public_id], **params)
        answer = await http.post(f"{ROOT}/image/{what}", data=form)
        assert answer.status_code == 400, params
        if message is not None:
            assert answer.json() == {"error": {"message": message}}
    held = sim.resource(public_id)
    assert "x" not in held.tags
    assert "k" not in held.context
    assert held.metadata == {}
    kept = upload_form(
        sim,
        clock,
        metadata="performance_tier=middle",
        clear_invalid="false",
        public_ids=[public_id],
    )
    assert (await http.post(f"{ROOT}/image/metadata", data=kept)).status_code == 200
    assert held.metadata == {"performance_tier": "middle"}


@pytest.mark.parametrize("twice", ["command", "public_ids"])
async def test_an_upload_field_given_twice_is_refused(
    sim: CloudinarySimulator, clock: Clock, http: httpx.AsyncClient, twice: str
) -> None:
    public_id = first_image(sim)
    form = upload_form(sim, clock, command="add", tag="x", public_ids=[public_id])
    pairs = [
        (k, v)
        for k, values in form.items()
        for v in (values if isinstance(values, list) else [values])
    ]
    extra = ("command", "remove") if twice == "command" else ("public_ids", public_id)
    answer = await http.post(
        f"{ROOT}/image/tags",
        content=urlencode([*pairs, extra]),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 400
    assert answer.json() == {"error": {"message": "Invalid request body"}}
    assert "x" not in sim.resource(public_id).tags


async def test_delivery_takes_only_the_analytics_marker(sim: CloudinarySimulator) -> None:
    held = sim.resource(first_image(sim))
    path = "/" + held.delivery_path(sim.options.cloud_name)
    transport = httpx.ASGITransport(app=sim)
    async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
        assert (await client.get(path, params={"_a": "BAMAAAB0"})).status_code == 200
        refused = await client.get(path, params={"w": "100"})
    assert refused.status_code == 400
    assert refused.json() == {"error": {"message": "Unknown parameter - w"}}


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


@pytest.mark.parametrize(
    "shape",
    [
        Shape(),
        Shape(tags=True),
        Shape(tags=True, context=True, metadata=True),
        Shape(context=True),
        DETAILS,
    ],
)
def test_listing_text_is_the_rendered_resource_written_as_json(
    sim: CloudinarySimulator, shape: Shape
) -> None:
    """The JSON text listings write directly is exactly ``render`` as ``JSONResponse`` writes
    it, before and after edits and a change of delivery address."""
    store = sim.store
    held = _images(sim)[0]
    store.set_metadata({"performance_tier": "top-10"}, [held])

    def check() -> None:
        for resource in store.by_asset_id.values():
            text = store.listing_json(resource, shape)
            assert json.loads(text) == store.render(resource, shape)
            expected = bytes(JSONResponse(store.render(resource, shape)).body).decode()
            assert text == expected

    check()
    store.set_tags(held, ["fresh", "ünïcode"])
    store.set_context(held, {"alt": 'a "quoted" \\ value'})
    check()
    store.delivery_base = "http://127.0.0.1:9/sandbox"
    check()
    assert store.render(held)["url"].startswith("http://127.0.0.1:9/sandbox/")
