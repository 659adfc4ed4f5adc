"""The Bynder simulator speaks API v4 as documented: shapes, paging, writes, limits, SNS."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from functools import cache
from typing import Any

import httpx
import pytest
from syncbridge_bynder.sim_state import BynderPortal, IpRateLimit
from syncbridge_bynder.simulator import BynderSimulator

from syncbridge.sandbox.faults import FaultKnobs
from syncbridge.sandbox.world import World

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


# ----- every documented listing parameter is honoured (issue 7, item 6) ---------------------


async def ids_listed(http: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await http.get("/api/v4/media/", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return [m["id"] for m in response.json()]


def matching(sim: BynderSimulator, test: Callable[[dict[str, Any]], bool]) -> set[str]:
    return {i for i, m in sim.portal.media.items() if test(m)}


async def test_property_filter_takes_an_option_name(
    sim: BynderSimulator, http: httpx.AsyncClient
) -> None:
    listed = await ids_listed(http, property_Channel="email")
    expected = matching(sim, lambda m: m["property_Channel"] == ["email"])
    assert expected
    assert set(listed) == expected


async def test_property_filter_takes_option_ids_all_of(
    sim: BynderSimulator, http: httpx.AsyncClient
) -> None:
    media = sim.media(first_id(sim))
    region = sim.portal.metaproperty_by_name("Region")
    (region_option,) = [
        o for o in media["propertyOptions"] if o in {x["id"] for x in region["options"]}
    ]
    other = next(o["id"] for o in region["options"] if o["id"] != region_option)
    assert media["id"] in await ids_listed(http, property_Region=region_option)
    assert await ids_listed(http, property_Region=f"{region_option},{other}") == []


@pytest.mark.parametrize(
    ("name", "value"), [("property_Region", "atlantis"), ("property_Channel", "apac")]
)
async def test_property_filter_with_an_option_it_does_not_have_matches_nothing(
    http: httpx.AsyncClient, name: str, value: str
) -> None:
    assert await ids_listed(http, **{name: value}) == []


async def test_property_filter_of_an_unknown_metaproperty_is_400(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/v4/media/", params={"property_Colour": "red"})
    assert response.status_code == 400
    assert "Colour" in response.json()["message"]


async def test_is_public_one_keeps_public_media_and_zero_does_not_filter(
    sim: BynderSimulator, http: httpx.AsyncClient
) -> None:
    public = matching(sim, lambda m: m["isPublic"] == 1)
    assert public
    assert public != set(sim.portal.media)
    assert set(await ids_listed(http, isPublic=1)) == public
    assert set(await ids_listed(http, isPublic="true")) == public
    assert set(await ids_listed(http, isPublic=0)) == set(sim.portal.media)


@pytest.mark.parametrize("marker", ["archive", "limited"])
async def test_archive_and_limited_filters_follow_writes(
    sim: BynderSimulator, http: httpx.AsyncClient, marker: str
) -> None:
    assert await ids_listed(http, **{marker: 1}) == []
    media_id = first_id(sim)
    assert (await http.post(f"/api/v4/media/{media_id}/", data={marker: "1"})).status_code == 202
    sim.apply_pending()
    assert await ids_listed(http, **{marker: 1}) == [media_id]


async def test_brand_filter(sim: BynderSimulator, http: httpx.AsyncClient) -> None:
    brands = (await http.get("/api/v4/brands/")).json()
    assert [set(b) for b in brands] == [{"id", "name", "description", "image", "subBrands"}] * 2
    for brand in brands:
        expected = {i for i, m in sim.portal.media.items() if m["brandId"] == brand["id"]}
        assert expected
        assert set(await ids_listed(http, brandId=brand["id"])) == expected
    assert await ids_listed(http, brandId="00000000-0000-0000-0000000000000000") == []


async def test_collection_filter(http: httpx.AsyncClient) -> None:
    collections = (await http.get("/api/v4/collections/", params={"limit": 100})).json()
    assert len(collections) == 6
    for collection in collections:
        members = (await http.get(f"/api/v4/collections/{collection['id']}/media/")).json()
        assert set(await ids_listed(http, collectionId=collection["id"])) == set(members)
    assert await ids_listed(http, collectionId="00000000-0000-0000-0000000000000000") == []


async def test_type_and_orientation_take_comma_lists(
    sim: BynderSimulator, http: httpx.AsyncClient
) -> None:
    expected = matching(sim, lambda m: m["type"] in ("video", "document"))
    assert set(await ids_listed(http, type="video,document")) == expected
    square = matching(sim, lambda m: m["orientation"] == "square")
    assert set(await ids_listed(http, orientation="square")) == square
    assert (await http.get("/api/v4/media/", params={"type": "photo"})).status_code == 400


async def test_id_filter(sim: BynderSimulator, http: httpx.AsyncClient) -> None:
    assert await ids_listed(http, id=first_id(sim)) == [first_id(sim)]


@pytest.mark.parametrize("inclusive", [True, False])
async def test_date_modified_is_inclusive_or_exclusive_as_configured(inclusive: bool) -> None:
    sim = make_simulator(inclusive_date_filters=inclusive)
    ordered = sorted(sim.portal.media.values(), key=lambda m: (m["dateModified"], m["id"]))
    pivot = ordered[20]["dateModified"]
    async with http_for(sim) as http:
        listed = set(await ids_listed(http, dateModified=pivot))
    at_pivot = matching(sim, lambda m: m["dateModified"] == pivot)
    later = matching(sim, lambda m: m["dateModified"] > pivot)
    assert listed == (later | at_pivot if inclusive else later)


async def test_date_ranges_and_days(sim: BynderSimulator, http: httpx.AsyncClient) -> None:
    ordered = sorted(sim.portal.media.values(), key=lambda m: (m["dateCreated"], m["id"]))
    low, high = ordered[10]["dateCreated"], ordered[30]["dateCreated"]
    listed = set(await ids_listed(http, dateCreated=low, dateCreatedTo=high))
    assert listed == matching(sim, lambda m: low <= m["dateCreated"] <= high)
    day = ordered[10]["dateModified"][:10]
    on_day = matching(sim, lambda m: m["dateModified"].startswith(day))
    assert set(await ids_listed(http, dateModifiedOn=day)) == on_day


async def test_date_published_order(http: httpx.AsyncClient) -> None:
    body = (
        await http.get("/api/v4/media/", params={"orderBy": "datePublished asc", "limit": 100})
    ).json()
    stamps = [m["datePublished"] for m in body]
    assert stamps == sorted(stamps)


@pytest.mark.parametrize(
    "params",
    [
        {"subBrandId": "x"},
        {"categoryId": "x"},
        {"cursor": "x"},
        {"propertyOptionIds": "x"},
        {"brandid": "x"},
        {"isPublic": "yes"},
        {"orderBy": "deadline asc"},
    ],
)
async def test_parameters_not_implemented_are_refused_not_ignored(
    http: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await http.get("/api/v4/media/", params=params)
    assert response.status_code == 400
    assert response.json()["statuscode"] == 400


async def test_total_variant_and_count_with_total(http: httpx.AsyncClient) -> None:
    total = (await http.get("/api/v4/media/", params={"total": 1, "limit": 5})).json()
    assert total["total"] == {"count": 57}
    assert len(total["media"]) == 5
    both = (await http.get("/api/v4/media/", params={"total": 1, "count": 1, "isPublic": 1})).json()
    assert both["total"]["count"] == both["count"]["total"] == len(both["media"])


async def test_media_items_and_version_number_on_request(http: httpx.AsyncClient) -> None:
    plain = (await http.get("/api/v4/media/", params={"limit": 3})).json()
    assert not any("mediaItems" in m or "activeVersion" in m for m in plain)
    params = {"limit": 3, "includeMediaItems": 1, "includeVersionNumber": 1}
    extended = (await http.get("/api/v4/media/", params=params)).json()
    assert [m["mediaItems"][0]["type"] for m in extended] == ["original"] * 3
    assert [m["activeVersion"] for m in extended] == [1] * 3


FILTERS: list[dict[str, str]] = [
    {"isPublic": "1"},
    {"type": "image"},
    {"tags": "display"},
    {"property_Region": "emea"},
    {"keyword": "launch"},
    {"dateModified": "2026-06-01T00:00:00Z", "type": "image,video"},
    {"dateCreated": "2026-03-01T00:00:00Z", "dateCreatedTo": "2026-09-01T00:00:00Z"},
    {"dateModifiedTo": "2026-08-01T00:00:00Z"},
]


@pytest.mark.parametrize("filters", FILTERS)
@pytest.mark.parametrize(
    "order", ["dateModified asc", "dateModified desc", "name asc", "dateCreated desc"]
)
@pytest.mark.parametrize(("page", "limit"), [(1, 7), (3, 7), (2, 50)])
def test_a_filtered_page_is_the_page_of_the_full_listing(
    filters: dict[str, str], order: str, page: int, limit: int
) -> None:
    portal = big_portal()
    params = {**filters, "orderBy": order}
    expected = portal.listing(params)
    assert expected
    chunk, _total, _matched = portal.listing_page(params, page, limit)
    assert [m["id"] for m in chunk] == [
        m["id"] for m in expected[(page - 1) * limit : page * limit]
    ]


class CountingMedia(dict[str, dict[str, Any]]):
    """The portal's media, counting the reads a listing makes."""

    reads = 0

    def __getitem__(self, key: str) -> dict[str, Any]:
        self.reads += 1
        return super().__getitem__(key)


@pytest.mark.parametrize(("params", "most"), [({}, 10), ({"isPublic": "1"}, 200)])
def test_a_page_reads_about_the_page_not_the_portal(params: dict[str, str], most: int) -> None:
    portal = BynderPortal(World(seed=3, assets_count=2000))
    counting = CountingMedia(portal.media)
    portal.media = counting
    chunk, _total, _matched = portal.listing_page({**params, "orderBy": "dateModified asc"}, 1, 10)
    assert len(chunk) == 10
    # Public media are one in six: the walk stops after about 60 of 2,000.
    assert counting.reads <= most


@cache
def big_portal() -> BynderPortal:
    portal = BynderPortal(World(seed=9, assets_count=400))
    for media_id in list(portal.media)[::4]:
        portal.edit(media_id, dateModified="2026-07-01T10:00:00Z")
    return portal


# ----- one medium: info parameters, writes, delete, download --------------------------------


async def test_media_info_versions_and_stats(sim: BynderSimulator, http: httpx.AsyncClient) -> None:
    media_id = first_id(sim)
    plain = (await http.get(f"/api/v4/media/{media_id}/")).json()
    assert "views" not in plain
    assert "mediaItems" not in plain
    full = (await http.get(f"/api/v4/media/{media_id}/", params={"versions": 1, "stats": 1})).json()
    assert full == {
        **plain,
        "mediaItems": sim.portal.media_items(media_id),
        **sim.portal.stats[media_id],
    }
    assert (await http.get(f"/api/v4/media/{media_id}/", params={"version": 1})).status_code == 400


async def test_modify_sets_flags_brand_and_publication_date(
    sim: BynderSimulator, http: httpx.AsyncClient
) -> None:
    media_id = first_id(sim)
    labs = next(b for b in sim.portal.brands if b != sim.portal.brand_id)
    form = {
        "archive": "1",
        "isPublic": "true",
        "brandId": labs,
        "datePublished": "2026-01-02T03:04:05Z",
    }
    assert (await http.post(f"/api/v4/media/{media_id}/", data=form)).status_code == 202
    sim.apply_pending()
    media = sim.media(media_id)
    assert (media["archive"], media["isPublic"], media["brandId"]) == (1, 1, labs)
    assert media["datePublished"] == "2026-01-02T03:04:05Z"


@pytest.mark.parametrize(
    "form",
    [
        {"archiveDate": "2026-01-01T00:00:00Z"},
        {"brandId": "not-a-brand"},
        {"archive": "maybe"},
        {"datePublished": "yesterday"},
    ],
)
async def test_modify_refuses_what_it_cannot_apply(
    sim: BynderSimulator, http: httpx.AsyncClient, form: dict[str, str]
) -> None:
    response = await http.post(f"/api/v4/media/{first_id(sim)}/", data=form)
    assert response.status_code == 400
    assert sim.portal.pending == []


async def test_public_is_one_way(sim: BynderSimulator, http: httpx.AsyncClient) -> None:
    public = next(i for i, m in sim.portal.media.items() if m["isPublic"] == 1)
    response = await http.post(f"/api/v4/media/{public}/", data={"isPublic": "0"})
    assert response.status_code == 400


async def test_delete_removes_the_medium_everywhere(
    sim: BynderSimulator, http: httpx.AsyncClient
) -> None:
    media_id = first_id(sim)
    assert (await http.delete(f"/api/v4/media/{media_id}/")).status_code == 204
    assert (await http.get(f"/api/v4/media/{media_id}/")).status_code == 404
    assert media_id not in await ids_listed(http)
    for collection in (await http.get("/api/v4/collections/")).json():
        members = (await http.get(f"/api/v4/collections/{collection['id']}/media/")).json()
        assert media_id not in members
    assert (await http.delete(f"/api/v4/media/{media_id}/")).status_code == 404


async def test_download_locations(sim: BynderSimulator, http: httpx.AsyncClient) -> None:
    media_id = first_id(sim)
    (item,) = sim.portal.media_items(media_id)
    base = f"/api/v4/media/{media_id}"
    url = (await http.get(f"{base}/download/")).json()["s3_file"]
    assert url.endswith(item["fileName"])
    assert (await http.get(f"{base}/download/{item['id']}/")).json()["s3_file"] == url
    assert (await http.get(f"{base}/1/download/")).json()["s3_file"] == url
    assert (await http.get(f"{base}/2/download/")).status_code == 404
    assert (await http.get(f"{base}/download/", params={"type": "additional"})).status_code == 404
    assert (await http.get(f"{base}/download/", params={"type": "thumb"})).status_code == 400


# ----- metaproperties, tags, derivatives ------------------------------------------------------


async def test_metaproperty_counts_only_on_request(
    sim: BynderSimulator, http: httpx.AsyncClient
) -> None:
    plain = (await http.get("/api/v4/metaproperties/")).json()
    assert not any("mediaCount" in o for mp in plain.values() for o in mp["options"])
    counted = (await http.get("/api/v4/metaproperties/", params={"count": 1})).json()
    region = {o["name"]: o["mediaCount"] for o in counted["Region"]["options"]}
    held = Counter(m["property_Region"][0] for m in sim.portal.media.values())
    assert region == {name: held[name] for name in region}
    videos = (
        await http.get("/api/v4/metaproperties/", params={"count": 1, "type": "video"})
    ).json()
    assert sum(o["mediaCount"] for o in videos["Region"]["options"]) == len(
        matching(sim, lambda m: m["type"] == "video")
    )


async def test_metaproperties_without_options_and_by_ids(http: httpx.AsyncClient) -> None:
    body = (await http.get("/api/v4/metaproperties/", params={"options": 0})).json()
    assert not any("options" in mp for mp in body.values())
    region_id = body["Region"]["id"]
    only = (await http.get("/api/v4/metaproperties/", params={"ids": region_id})).json()
    assert list(only) == ["Region"]
    one = await http.get(f"/api/v4/metaproperties/{region_id}/", params={"options": "false"})
    assert "options" not in one.json()
    assert (await http.get("/api/v4/metaproperties/", params={"limit": 5})).status_code == 400


async def test_tags_order_keyword_and_min_count(
    sim: BynderSimulator, http: httpx.AsyncClient
) -> None:
    counts = sim.portal.tag_counts()
    params: dict[str, str | int] = {"orderBy": "mediaCount desc", "limit": 1000}
    ordered = (await http.get("/api/v4/tags/", params=params)).json()
    assert [t["mediaCount"] for t in ordered] == sorted(counts.values(), reverse=True)
    keyword = (await http.get("/api/v4/tags/", params={"keyword": "LINKED"})).json()
    assert [t["tag"] for t in keyword] == [t for t in sorted(counts) if "linked" in t]
    many = (await http.get("/api/v4/tags/", params={"mincount": 10, "limit": 1000})).json()
    assert {t["tag"] for t in many} == {t for t, n in counts.items() if n >= 10}
    assert (await http.get("/api/v4/tags/", params={"orderBy": "count desc"})).status_code == 400


async def test_derivatives(http: httpx.AsyncClient) -> None:
    body = (await http.get("/api/v4/account/derivatives/")).json()
    assert {d["prefix"] for d in body} >= {"thul", "webimage", "mini"}


# ----- collections --------------------------------------------------------------------------


async def test_collections_are_listed_in_bynder_shape(http: httpx.AsyncClient) -> None:
    body = (await http.get("/api/v4/collections/", params={"orderBy": "name asc"})).json()
    assert [c["name"] for c in body] == sorted(c["name"] for c in body)
    web = next(c for c in body if c["name"] == "Web")
    assert web["isPublic"] is True
    assert re.fullmatch(r"[A-Z][a-z]+, \d\d \d{4} \d\d:\d\d:\d\d \+0000", web["dateCreated"])
    assert set(web) >= {"id", "userId", "user", "collectionCount", "cover", "description"}
    public = (await http.get("/api/v4/collections/", params={"isPublic": 1})).json()
    assert [c["name"] for c in public] == ["Web"]
    keyword = (await http.get("/api/v4/collections/", params={"keyword": "EVE"})).json()
    assert [c["name"] for c in keyword] == ["Events"]
    big = max(c["collectionCount"] for c in body)
    fullest = (await http.get("/api/v4/collections/", params={"minCount": big})).json()
    assert {c["collectionCount"] for c in fullest} == {big}
    assert (await http.get("/api/v4/collections/", params={"count": 1})).status_code == 400


async def test_collection_life_cycle(sim: BynderSimulator, http: httpx.AsyncClient) -> None:
    created = await http.post("/api/v4/collections/", data={"name": "Launch", "description": "d"})
    assert created.status_code == 201
    assert created.json() == {"message": "Created", "statuscode": 201}
    location = httpx.URL(created.headers["location"]).path
    collection = (await http.get(location)).json()
    assert (collection["name"], collection["collectionCount"]) == ("Launch", 0)
    cid = collection["id"]
    picked = sorted(sim.portal.media)[:3]
    added = await http.post(f"{location}media/", data={"data": json.dumps(picked)})
    assert added.status_code == 202
    assert sorted(await ids_listed(http, collectionId=cid)) == picked
    removed = await http.delete(f"{location}media/", params={"deleteIds": picked[0]})
    assert removed.status_code == 204
    assert (await http.get(f"{location}media/")).json() == picked[1:]
    modified = await http.post(location, data={"name": "Launch 2", "isPublic": "1"})
    assert modified.status_code == 201
    assert (await http.get(location)).json()["isPublic"] is True
    assert (await http.delete(location)).status_code == 204
    gone = await http.get(location)
    assert (gone.status_code, gone.json()["message"]) == (404, "Collection not found")


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"recipients": "a@example.com", "collectionOptions": "view"}, 202),
        ({"groups": "G1", "collectionOptions": "readAccess", "sendMail": "0"}, 202),
        ({"collectionOptions": "view"}, 400),
        ({"recipients": "a@example.com", "collectionOptions": "owner"}, 400),
        ({"recipients": "a@example.com", "collectionOptions": "view", "dateEnd": "soon"}, 400),
    ],
)
async def test_collection_share(http: httpx.AsyncClient, form: dict[str, str], status: int) -> None:
    cid = (await http.get("/api/v4/collections/")).json()[0]["id"]
    response = await http.post(f"/api/v4/collections/{cid}/share/", data=form)
    assert response.status_code == status
    assert response.json()["statuscode"] == status


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v4/collections/", {}),
        ("POST", "/api/v4/collections/{cid}/media/", {"data": '["no-such-medium"]'}),
        ("POST", "/api/v4/collections/{cid}/media/", {"data": "not json"}),
        ("POST", "/api/v4/collections/{cid}/", {"thumbnailAssetId": "no-such-medium"}),
    ],
)
async def test_collection_writes_refuse_bad_input(
    http: httpx.AsyncClient, method: str, path: str, body: dict[str, str]
) -> None:
    cid = (await http.get("/api/v4/collections/")).json()[0]["id"]
    response = await http.request(method, path.format(cid=cid), data=body)
    assert response.status_code == 400


# ----- routes that are not there ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v4/nothing/", 404),
        ("GET", "/nothing", 404),
        ("PUT", "/api/v4/media/", 405),
        ("GET", "/api/workflow/users/", 501),
        ("POST", "/api/media/usage/", 501),
        ("POST", "/api/v4/metaproperties/", 501),
        ("DELETE", "/api/v4/metaproperties/X/options/Y/", 501),
        ("GET", "/api/upload/endpoint/", 501),
    ],
)
async def test_routes_not_served_answer_bynder_json(
    http: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await http.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["statuscode"] == status


async def test_wrong_method_names_the_allowed_ones(http: httpx.AsyncClient) -> None:
    response = await http.put("/api/v4/tags/")
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD"}
