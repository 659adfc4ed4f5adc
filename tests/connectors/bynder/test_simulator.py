"""The Bynder simulator speaks API v4 as documented: shapes, paging, writes, limits, SNS."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from syncbridge_bynder.simulator import BynderSimulator
from syncbridge_bynder.sim_state import IpRateLimit

from syncbridge.sandbox.faults import FaultKnobs

from .support import PORTAL, make_simulator


@pytest.fixture
def sim() -> BynderSimulator:
    return make_simulator(write_delay_s=60.0)


def http_for(
    sim: BynderSimulator, *, ip: str = "10.0.0.1", token: str | None = None
) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=sim, client=(ip, 4711))
    headers = {"Authorization": f"Bearer {token or sim.sandbox_info['token']}"}
    return httpx.AsyncClient(transport=transport, base_url=PORTAL, headers=headers)


@pytest.fixture
async def http(sim: BynderSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with http_for(sim) as client:
        yield client


def first_id(sim: BynderSimulator) -> str:
    return sorted(sim.portal.media)[0]


# ----- listing -----------------------------------------------------------------------------


async def test_media_list_is_a_bare_array_of_fifty_by_default(http: httpx.AsyncClient) -> None:
    body = (await http.get("/api/v4/media/")).json()
    assert isinstance(body, list)
    assert len(body) == 50


async def test_pages_are_one_based_and_end_short(
    sim: BynderSimulator, http: httpx.AsyncClient
) -> None:
    ids: list[str] = []
    for page in (1, 2, 3):
        body = (await http.get("/api/v4/media/", params={"page": page, "limit": 25})).json()
        ids += [m["id"] for m in body]
    assert len(body) == 7
    assert sorted(ids) == sorted(sim.portal.media)


async def test_limit_is_capped_at_one_thousand() -> None:
    big = make_simulator(assets=1005)
    async with http_for(big) as http:
        body = (await http.get("/api/v4/media/", params={"limit": 5000})).json()
    assert len(body) == 1000


@pytest.mark.parametrize("params", [{"page": "0"}, {"limit": "ten"}, {"orderBy": "views asc"}])
async def test_bad_list_parameters_answer_400(
    http: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await http.get("/api/v4/media/", params=params)
    assert response.status_code == 400
    assert response.json()["statuscode"] == 400


@pytest.mark.parametrize(
    ("order_by", "field", "reverse"),
    [
        ("dateModified asc", "dateModified", False),
        ("dateModified desc", "dateModified", True),
        ("dateCreated asc", "dateCreated", False),
        ("name desc", "name", True),
    ],
)
async def test_order_by(http: httpx.AsyncClient, order_by: str, field: str, reverse: bool) -> None:
    body = (await http.get("/api/v4/media/", params={"orderBy": order_by, "limit": 100})).json()
    values = [m[field] for m in body]
    assert values == sorted(values, reverse=reverse)


async def test_date_modified_filter_is_inclusive(http: httpx.AsyncClient) -> None:
    ordered = (await http.get("/api/v4/media/", params={"orderBy": "dateModified asc"})).json()
    pivot = ordered[20]["dateModified"]
    since = (await http.get("/api/v4/media/", params={"dateModified": pivot, "limit": 100})).json()
    assert since
    assert all(m["dateModified"] >= pivot for m in since)
    assert ordered[20]["id"] in {m["id"] for m in since}


async def test_filters_by_type_tags_ids_and_keyword(
    sim: BynderSimulator, http: httpx.AsyncClient
) -> None:
    media = sim.media(first_id(sim))
    by_type = (
        await http.get("/api/v4/media/", params={"type": media["type"], "limit": 100})
    ).json()
    assert {m["type"] for m in by_type} == {media["type"]}
    tag = media["tags"][0]
    by_tag = (await http.get("/api/v4/media/", params={"tags": tag, "limit": 100})).json()
    assert by_tag
    assert all(tag in m["tags"] for m in by_tag)
    by_ids = (await http.get("/api/v4/media/", params={"ids": media["id"]})).json()
    assert [m["id"] for m in by_ids] == [media["id"]]
    by_keyword = (await http.get("/api/v4/media/", params={"keyword": media["name"]})).json()
    assert media["id"] in {m["id"] for m in by_keyword}


async def test_count_variant_wraps_the_page_with_totals(http: httpx.AsyncClient) -> None:
    body = (await http.get("/api/v4/media/", params={"count": 1, "limit": 5})).json()
    assert body["count"]["total"] == 57
    assert sum(body["count"]["type"].values()) == 57
    assert len(body["media"]) == 5


# ----- one medium --------------------------------------------------------------------------


async def test_media_has_bynder_field_names_and_types(
    sim: BynderSimulator, http: httpx.AsyncClient
) -> None:
    media = (await http.get(f"/api/v4/media/{first_id(sim)}/")).json()
    assert isinstance(media["id"], str)
    for flag in ("archive", "isPublic", "limited"):
        assert media[flag] in (0, 1)
    for stamp in ("dateCreated", "dateModified"):
        assert media[stamp].endswith("Z")
    assert isinstance(media["width"], int)
    assert isinstance(media["fileSize"], int)
    assert isinstance(media["extension"], list)
    assert isinstance(media["tags"], list)
    assert set(media["thumbnails"]) >= {"mini", "thul", "webimage"}
    assert isinstance(media["property_Channel"], list)
    metaproperties = (await http.get("/api/v4/metaproperties/")).json()
    channel = {o["id"]: o["name"] for o in metaproperties["Channel"]["options"]}
    assert [channel[o] for o in media["propertyOptions"] if o in channel] == media[
        "property_Channel"
    ]


async def test_unknown_media_is_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/v4/media/00000000-0000-0000-0000000000000000/")
    assert response.status_code == 404
    assert response.json()["statuscode"] == 404


@pytest.mark.parametrize("token", [None, "wrong"])
async def test_bad_or_missing_token_is_401_json(sim: BynderSimulator, token: str | None) -> None:
    transport = httpx.ASGITransport(app=sim)
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=transport, base_url=PORTAL, headers=headers) as http:
        response = await http.get("/api/v4/media/")
    assert response.status_code == 401
    assert response.json()["statuscode"] == 401


# ----- writes ------------------------------------------------------------------------------


async def test_form_write_is_accepted_and_applied_later(
    sim: BynderSimulator, http: httpx.AsyncClient
) -> None:
    media_id = first_id(sim)
    before = dict(sim.media(media_id))
    response = await http.post(f"/api/v4/media/{media_id}/", data={"tags": "a, b,a"})
    assert response.status_code == 202
    assert response.json() == {"message": "Accepted", "statuscode": 202}
    assert sim.media(media_id)["tags"] == before["tags"]
    assert sim.apply_pending() == 1
    after = sim.media(media_id)
    assert after["tags"] == ["a", "b"]
    assert after["dateModified"] >= before["dateModified"]
    assert after["dateModified"] == max(m["dateModified"] for m in sim.portal.media.values())


async def test_write_applies_on_a_later_request_once_due() -> None:
    sim = make_simulator(write_delay_s=0.0)
    media_id = first_id(sim)
    async with http_for(sim) as http:
        await http.post(f"/api/v4/media/{media_id}/", data={"tags": "only"})
        assert (await http.get(f"/api/v4/media/{media_id}/")).json()["tags"] == ["only"]


async def test_empty_tags_field_clears_the_tags(
    sim: BynderSimulator, http: httpx.AsyncClient
) -> None:
    media_id = first_id(sim)
    await http.post(f"/api/v4/media/{media_id}/", data={"tags": ""})
    sim.apply_pending()
    assert sim.media(media_id)["tags"] == []


async def test_json_body_is_accepted_and_ignored(
    sim: BynderSimulator, http: httpx.AsyncClient
) -> None:
    media_id = first_id(sim)
    before = dict(sim.media(media_id))
    response = await http.post(f"/api/v4/media/{media_id}/", json={"tags": "x,y"})
    assert response.status_code == 202
    sim.apply_pending()
    assert sim.media(media_id) == before


async def test_modify_by_id_field_on_the_collection(
    sim: BynderSimulator, http: httpx.AsyncClient
) -> None:
    media_id = first_id(sim)
    response = await http.post("/api/v4/media/", data={"id": media_id, "description": "new"})
    assert response.status_code == 202
    sim.apply_pending()
    assert sim.media(media_id)["description"] == "new"


async def test_metaproperty_write_sets_options_by_id(
    sim: BynderSimulator, http: httpx.AsyncClient
) -> None:
    media_id = first_id(sim)
    region = (await http.get("/api/v4/metaproperties/")).json()["Region"]
    apac = next(o for o in region["options"] if o["name"] == "apac")
    await http.post(f"/api/v4/media/{media_id}/", data={f"metaproperty.{region['id']}": apac["id"]})
    sim.apply_pending()
    media = sim.media(media_id)
    assert media["property_Region"] == ["apac"]
    assert apac["id"] in media["propertyOptions"]


@pytest.mark.parametrize("value", ["NOT-AN-OPTION", "{a},{b}"])
async def test_metaproperty_write_with_unknown_options_is_400(
    sim: BynderSimulator, http: httpx.AsyncClient, value: str
) -> None:
    region = (await http.get("/api/v4/metaproperties/")).json()["Region"]
    response = await http.post(
        f"/api/v4/media/{first_id(sim)}/", data={f"metaproperty.{region['id']}": value}
    )
    assert response.status_code == 400


async def test_write_to_unknown_media_is_404(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/v4/media/nope/", data={"tags": "x"})
    assert response.status_code == 404


# ----- metaproperties, tags, account -------------------------------------------------------


async def test_metaproperties_are_keyed_by_name(http: httpx.AsyncClient) -> None:
    body = (await http.get("/api/v4/metaproperties/")).json()
    assert {"Channel", "Region", "Campaign", "ProductLine", "PerformanceTier"} <= set(body)
    channel = body["Channel"]
    assert set(channel) >= {"id", "name", "label", "isFilterable", "zindex", "type", "options"}
    one = (await http.get(f"/api/v4/metaproperties/{channel['id']}/")).json()
    assert one == channel


async def test_option_is_created_from_a_json_data_field(
    sim: BynderSimulator, http: httpx.AsyncClient
) -> None:
    tier_id = sim.sandbox_info["owned_metaproperty_id"]
    path = f"/api/v4/metaproperties/{tier_id}/options/"
    response = await http.post(path, data={"data": '{"name": "top-10", "label": "Top 10%"}'})
    assert response.status_code == 201
    options = (await http.get(f"/api/v4/metaproperties/{tier_id}/")).json()["options"]
    assert [(o["name"], o["label"]) for o in options] == [("top-10", "Top 10%")]
    again = await http.post(path, data={"data": '{"name": "top-10"}'})
    assert again.status_code == 400


async def test_tags_list_counts_media(sim: BynderSimulator, http: httpx.AsyncClient) -> None:
    body = (await http.get("/api/v4/tags/", params={"limit": 1000})).json()
    counts = {t["tag"]: t["mediaCount"] for t in body}
    assert counts == dict(sim.portal.tag_counts())
    assert all(isinstance(t["id"], str) for t in body)


async def test_account(http: httpx.AsyncClient) -> None:
    assert (await http.get("/api/v4/account/")).json()["name"] == "Acme Corp (sandbox)"


# ----- rate limit and faults ---------------------------------------------------------------


async def test_rate_limit_answers_429_per_ip_without_headers() -> None:
    sim = make_simulator(rate_limit=3, rate_window_s=300, rate_block_s=300)
    async with http_for(sim) as http:
        statuses = [(await http.get("/api/v4/account/")).status_code for _ in range(4)]
        blocked = await http.get("/api/v4/account/")
    assert statuses == [200, 200, 200, 429]
    assert blocked.json()["statuscode"] == 429
    assert not any(h.lower().startswith(("x-ratelimit", "retry-after")) for h in blocked.headers)
    async with http_for(sim, ip="10.0.0.2") as other:
        assert (await other.get("/api/v4/account/")).status_code == 200


def test_block_lifts_only_after_a_quiet_period() -> None:
    now = [0.0]
    limit = IpRateLimit(2, window_s=10, block_s=5, clock=lambda: now[0])
    assert [limit.allow("ip") for _ in range(3)] == [True, True, False]
    now[0] = 4.0
    assert not limit.allow("ip")  # knocking during the block extends it to t=9
    now[0] = 8.0
    assert not limit.allow("ip")  # ... and again, to t=13
    now[0] = 13.5
    assert limit.allow("ip")


async def test_injected_faults_use_bynder_error_bodies() -> None:
    sim = make_simulator(faults=FaultKnobs(rate_429=1.0, retry_after_s=0))
    async with http_for(sim) as http:
        response = await http.get("/api/v4/media/")
    assert response.status_code == 429
    assert response.json() == {"message": "Too Many Requests", "statuscode": 429}


# ----- SNS side ----------------------------------------------------------------------------


async def test_signing_certificate_is_served_at_its_sns_path(
    sim: BynderSimulator, http: httpx.AsyncClient
) -> None:
    response = await http.get(sim.topic.cert_path)
    assert response.text == sim.sandbox_info["cert_pem"]


async def test_subscribe_url_confirms_the_subscription(
    sim: BynderSimulator, http: httpx.AsyncClient
) -> None:
    _headers, body = sim.subscription_confirmation()
    url = httpx.URL(json.loads(body)["SubscribeURL"])
    assert url.host == "sns.eu-west-1.amazonaws.com"
    response = await http.get("/", params=dict(url.params))
    assert response.status_code == 200
    assert "<SubscriptionArn>" in response.text
    bad: dict[str, Any] = {**dict(url.params), "Token": "forged"}
    assert (await http.get("/", params=bad)).status_code == 400
