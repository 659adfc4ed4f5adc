"""The HubSpot simulator on its own: HubSpot's shapes, limits, errors and signed deliveries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from syncbridge_hubspot.sim_search import SearchLimits
from syncbridge_hubspot.simulator import HubSpotSimulator

from syncbridge.connector.testing import FakeClock
from syncbridge.sandbox.faults import FaultKnobs

from .support import make_simulator

ORIGIN = "http://hubapi.test"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> HubSpotSimulator:
    # Searches are not throttled here: their own limit has its own test.
    return make_simulator(monotonic=clock, wall_clock=clock.wall, search_per_s=10_000)


@pytest.fixture
async def api(sim: HubSpotSimulator) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {sim.token}"}
    transport = httpx.ASGITransport(app=sim)
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN, headers=headers) as c:
        yield c


def assert_hubspot_error(response: httpx.Response, status: int, category: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "error"
    assert body["category"] == category
    assert body["message"]
    assert body["correlationId"]
    return body


# ----- auth and errors ------------------------------------------------------------------------


async def test_calls_without_the_token_get_hubspots_401(sim: HubSpotSimulator) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url=ORIGIN) as c:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": sim.token}):
            response = await c.get("/crm/v3/objects/contacts", headers=headers)
            assert_hubspot_error(response, 401, "INVALID_AUTHENTICATION")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/crm/v3/objects/contacts", {"limit": "101"}),
        ("/crm/v3/objects/contacts", {"limit": "0"}),
        ("/crm/v3/objects/contacts", {"after": "abc"}),
        ("/crm/v3/objects/contacts", {"archived": "maybe"}),
        ("/crm/v3/objects/contacts", {"propertiesWithHistory": "email"}),
        ("/crm/v3/objects/deals", {"associations": "tickets"}),
        ("/crm/v3/objects/tickets", {}),
        ("/marketing/v3/campaigns", {"limit": "101"}),
        ("/marketing/v3/campaigns", {"sort": "budget"}),
        ("/marketing/v3/campaigns", {"after": "not base64!"}),
    ],
)
async def test_bad_parameters_get_a_validation_error(
    api: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    assert_hubspot_error(await api.get(path, params=params), 400, "VALIDATION_ERROR")


async def test_unknown_routes_records_and_methods_answer_hubspots_shape(
    api: httpx.AsyncClient,
) -> None:
    assert_hubspot_error(await api.get("/crm/v3/nothing/here"), 404, "OBJECT_NOT_FOUND")
    assert_hubspot_error(await api.get("/crm/v3/objects/contacts/1"), 404, "OBJECT_NOT_FOUND")
    assert_hubspot_error(await api.delete("/crm/v3/objects/contacts"), 405, "VALIDATION_ERROR")
    missing = await api.get("/marketing/v3/campaigns/00000000-0000-4000-8000-000000000000")
    assert_hubspot_error(missing, 404, "OBJECT_NOT_FOUND")


async def test_a_body_that_is_not_json_gets_a_validation_error(api: httpx.AsyncClient) -> None:
    response = await api.post("/crm/v3/objects/contacts/search", content=b"{nope")
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


# ----- listing --------------------------------------------------------------------------------


async def test_list_pages_by_after_and_leaves_paging_out_at_the_end(
    api: httpx.AsyncClient, sim: HubSpotSimulator
) -> None:
    seen: list[str] = []
    after: str | None = None
    while True:
        params = {"limit": "7", **({"after": after} if after else {})}
        body = (await api.get("/crm/v3/objects/contacts", params=params)).json()
        seen += [r["id"] for r in body["results"]]
        if "paging" not in body:
            break
        after = body["paging"]["next"]["after"]
        assert body["paging"]["next"]["link"].startswith(f"{ORIGIN}/crm/v3/objects/contacts?")
    assert seen == sorted(sim.ids("contacts"), key=int)


async def test_every_property_value_is_a_string_or_null(api: httpx.AsyncClient) -> None:
    params = {"properties": "amount,hs_is_closed_won,closedate,no_such_property", "limit": "20"}
    body = (await api.get("/crm/v3/objects/deals", params=params)).json()
    for deal in body["results"]:
        props = deal["properties"]
        assert "no_such_property" not in props
        assert set(props) == {
            "amount",
            "hs_is_closed_won",
            "closedate",
            "createdate",
            "hs_lastmodifieddate",
            "hs_object_id",
        }
        assert all(v is None or isinstance(v, str) for v in props.values())
        assert props["hs_is_closed_won"] in ("true", "false")
        assert deal["updatedAt"] == props["hs_lastmodifieddate"]


async def test_default_properties_when_none_are_named(api: httpx.AsyncClient) -> None:
    (deal,) = (await api.get("/crm/v3/objects/deals", params={"limit": "1"})).json()["results"]
    assert set(deal["properties"]) >= {"dealname", "amount", "closedate", "pipeline", "dealstage"}


async def test_repeated_and_comma_separated_lists_mean_the_same(api: httpx.AsyncClient) -> None:
    comma = await api.get("/crm/v3/objects/contacts?properties=email,firstname&limit=3")
    repeated = await api.get(
        "/crm/v3/objects/contacts?properties=email&properties=firstname&limit=3"
    )
    assert comma.json()["results"] == repeated.json()["results"]


async def test_archived_records_leave_listings_and_search(
    api: httpx.AsyncClient, sim: HubSpotSimulator
) -> None:
    gone = sorted(sim.ids("companies"))[1]
    sim.archive("companies", gone)
    active = (await api.get("/crm/v3/objects/companies", params={"limit": "100"})).json()
    assert gone not in {r["id"] for r in active["results"]}
    params = {"archived": "true"}
    (archived,) = (await api.get("/crm/v3/objects/companies", params=params)).json()["results"]
    assert (archived["id"], archived["archived"]) == (gone, True)
    assert archived["archivedAt"]
    found = (await api.post("/crm/v3/objects/companies/search", json={"limit": 100})).json()
    assert gone not in {r["id"] for r in found["results"]}
    assert (await api.get(f"/crm/v3/objects/companies/{gone}")).status_code == 404
    assert (await api.get(f"/crm/v3/objects/companies/{gone}", params=params)).status_code == 200


async def test_read_by_email(api: httpx.AsyncClient, sim: HubSpotSimulator) -> None:
    contact = sorted(sim.ids("contacts"))[4]
    email = sim.record("contacts", contact).properties["email"]
    got = await api.get(f"/crm/v3/objects/contacts/{email}", params={"idProperty": "email"})
    assert got.json()["id"] == contact


# ----- batch read and associations ------------------------------------------------------------


async def test_batch_read_answers_207_for_missing_ids(
    api: httpx.AsyncClient, sim: HubSpotSimulator
) -> None:
    known = sorted(sim.ids("deals"))[:2]
    body = {"inputs": [{"id": i} for i in [*known, "7"]], "properties": ["dealname"]}
    response = await api.post("/crm/v3/objects/deals/batch/read", json=body)
    assert response.status_code == 207
    answer = response.json()
    assert [r["id"] for r in answer["results"]] == known
    assert answer["errors"][0]["context"]["ids"] == ["7"]
    too_many = {"inputs": [{"id": str(i)} for i in range(101)]}
    response = await api.post("/crm/v3/objects/deals/batch/read", json=too_many)
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


async def test_associations_are_paired_and_typed(
    api: httpx.AsyncClient, sim: HubSpotSimulator
) -> None:
    deal = sorted(sim.ids("deals"))[0]
    contacts = sim.crm.associated("deals", deal, "contacts")
    for contact in contacts:
        assert deal in sim.crm.associated("contacts", contact, "deals")
    body = {"inputs": [{"id": deal}, {"id": "1"}]}
    response = await api.post("/crm/v4/associations/deals/contacts/batch/read", json=body)
    assert response.status_code == 207
    (result,) = response.json()["results"]
    assert [t["toObjectId"] for t in result["to"]] == [int(c) for c in contacts]
    assert result["to"][0]["associationTypes"] == [
        {"category": "HUBSPOT_DEFINED", "typeId": 3, "label": None}
    ]
    assert response.json()["errors"][0]["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"


# ----- search ---------------------------------------------------------------------------------


async def search(api: httpx.AsyncClient, kind: str, body: dict[str, Any]) -> Any:
    response = await api.post(f"/crm/v3/objects/{kind}/search", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def test_search_filters_by_type(api: httpx.AsyncClient, sim: HubSpotSimulator) -> None:
    deals = {i: sim.record("deals", i).properties for i in sim.ids("deals")}
    won = {i for i, p in deals.items() if p["hs_is_closed_won"] == "true"}
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": "hs_is_closed_won", "operator": "EQ", "value": "true"}]}
        ],
        "limit": 100,
    }
    assert {r["id"] for r in (await search(api, "deals", body))["results"]} == won
    big = {i for i, p in deals.items() if float(p["amount"] or 0) >= 50_000}
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": "amount", "operator": "GTE", "value": "50000"}]}
        ],
        "limit": 100,
    }
    assert {r["id"] for r in (await search(api, "deals", body))["results"]} == big
    either = {
        "filterGroups": [
            {"filters": [{"propertyName": "hs_is_closed_won", "operator": "EQ", "value": "TRUE"}]},
            {"filters": [{"propertyName": "amount", "operator": "GTE", "value": "50000"}]},
        ],
        "limit": 100,
    }
    assert {r["id"] for r in (await search(api, "deals", either))["results"]} == won | big


async def test_search_sorts_and_counts(api: httpx.AsyncClient, sim: HubSpotSimulator) -> None:
    body = {
        "sorts": [{"propertyName": "amount", "direction": "DESCENDING"}],
        "properties": ["amount"],
        "limit": 5,
    }
    answer = await search(api, "deals", body)
    amounts = [float(r["properties"]["amount"]) for r in answer["results"]]
    assert amounts == sorted(amounts, reverse=True)
    assert answer["total"] == len(sim.ids("deals"))
    assert answer["paging"]["next"]["after"] == "5"


async def test_search_by_free_text(api: httpx.AsyncClient, sim: HubSpotSimulator) -> None:
    contact = sorted(sim.ids("contacts"))[3]
    email = sim.record("contacts", contact).properties["email"] or ""
    answer = await search(api, "contacts", {"query": email.upper()})
    assert contact in {r["id"] for r in answer["results"]}


async def test_the_modification_index_answers_like_a_scan(
    api: httpx.AsyncClient, sim: HubSpotSimulator
) -> None:
    stamps = sorted((r.updated_at, r.id) for r in sim.crm.tables["contacts"].records.values())
    low = stamps[10][0]
    low_ms = str(int(low.timestamp() * 1000))
    keeps: dict[str, Callable[[datetime], bool]] = {
        "GT": lambda t: t > low,
        "GTE": lambda t: t >= low,
        "LT": lambda t: t < low,
    }
    for op, keep in keeps.items():
        filters: list[dict[str, str]] = [
            {"propertyName": "lastmodifieddate", "operator": op, "value": low_ms}
        ]
        body = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "limit": 200,
        }
        indexed = [r["id"] for r in (await search(api, "contacts", body))["results"]]
        assert indexed == [i for t, i in stamps if keep(t)], op
        # The same filter next to one that matches everything takes the scanning path.
        filters.append({"propertyName": "email", "operator": "HAS_PROPERTY"})
        scanned = [r["id"] for r in (await search(api, "contacts", body))["results"]]
        assert sorted(scanned) == sorted(indexed), op


async def test_newest_first_from_the_index(api: httpx.AsyncClient, sim: HubSpotSimulator) -> None:
    stamps = sorted((r.updated_at, r.id) for r in sim.crm.tables["deals"].records.values())
    body = {"sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "DESCENDING"}]}
    first = await search(api, "deals", {**body, "limit": 3})
    second = await search(api, "deals", {**body, "limit": 3, "after": "3"})
    newest = [i for _, i in reversed(stamps)][:6]
    assert [r["id"] for r in first["results"] + second["results"]] == newest


async def test_search_refuses_to_page_past_its_cap(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/crm/v3/objects/contacts/search", json={"after": "9900", "limit": 200}
    )
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")
    assert (
        await api.post("/crm/v3/objects/contacts/search", json={"after": "9800", "limit": 200})
    ).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"limit": 201},
        {"filterGroups": [{"filters": []}] * 6},
        {
            "filterGroups": [
                {"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * 11}
            ]
        },
        {"filterGroups": [{"filters": [{"propertyName": "nope", "operator": "EQ", "value": "1"}]}]},
        {
            "filterGroups": [
                {"filters": [{"propertyName": "email", "operator": "LIKE", "value": "1"}]}
            ]
        },
        {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "createdate", "operator": "GT", "value": "yesterday"}
                    ]
                }
            ]
        },
        {"sorts": [{"propertyName": "email", "direction": "UP"}]},
        {"query": "x" * 3001},
        [],
    ],
)
async def test_search_refuses_what_hubspot_refuses(api: httpx.AsyncClient, body: Any) -> None:
    response = await api.post("/crm/v3/objects/contacts/search", json=body)
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


# ----- rate limits ----------------------------------------------------------------------------


async def test_answers_carry_the_rate_limit_headers_but_search_does_not(
    api: httpx.AsyncClient,
) -> None:
    listed = await api.get("/crm/v3/objects/contacts")
    assert listed.headers["X-HubSpot-RateLimit-Max"] == "190"
    assert listed.headers["X-HubSpot-RateLimit-Remaining"] == "189"
    assert listed.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert "X-HubSpot-RateLimit-Daily-Remaining" in listed.headers
    found = await api.post("/crm/v3/objects/contacts/search", json={})
    assert "X-HubSpot-RateLimit-Max" not in found.headers


async def test_the_rolling_window_refuses_the_call_over_the_limit(clock: FakeClock) -> None:
    sim = make_simulator(burst_limit=3, monotonic=clock, wall_clock=clock.wall)
    headers = {"Authorization": f"Bearer {sim.token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url=ORIGIN) as c:
        for _ in range(3):
            assert (await c.get("/crm/v3/objects/deals", headers=headers)).status_code == 200
            clock.advance(2)
        over = await c.get("/crm/v3/objects/deals", headers=headers)
        body = assert_hubspot_error(over, 429, "RATE_LIMITS")
        assert (body["policyName"], body["errorType"]) == ("TEN_SECONDLY_ROLLING", "RATE_LIMIT")
        assert over.headers["Retry-After"] == "4"
        clock.advance(4)
        assert (await c.get("/crm/v3/objects/deals", headers=headers)).status_code == 200


async def test_search_has_its_own_secondly_limit(clock: FakeClock) -> None:
    sim = make_simulator(search_per_s=2, monotonic=clock, wall_clock=clock.wall)
    headers = {"Authorization": f"Bearer {sim.token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url=ORIGIN) as c:
        url = "/crm/v3/objects/deals/search"
        assert [(await c.post(url, json={}, headers=headers)).status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]
        assert (await c.post(url, json={}, headers=headers)).json()["policyName"] == "SECONDLY"
        assert (await c.get("/crm/v3/objects/deals", headers=headers)).status_code == 200


async def test_the_daily_budget_runs_out(clock: FakeClock) -> None:
    sim = make_simulator(daily_limit=2, monotonic=clock, wall_clock=clock.wall)
    headers = {"Authorization": f"Bearer {sim.token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url=ORIGIN) as c:
        first = await c.get("/crm/v3/objects/deals", headers=headers)
        assert first.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "1"
        await c.get("/crm/v3/objects/deals", headers=headers)
        over = await c.get("/crm/v3/objects/deals", headers=headers)
        assert assert_hubspot_error(over, 429, "RATE_LIMITS")["policyName"] == "DAILY"


async def test_injected_faults_wear_hubspots_shapes() -> None:
    sim = make_simulator(faults=FaultKnobs(rate_429=1.0))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url=ORIGIN) as c:
        response = await c.get("/crm/v3/objects/deals")
    assert (
        assert_hubspot_error(response, 429, "RATE_LIMITS")["policyName"] == "TEN_SECONDLY_ROLLING"
    )


# ----- properties and campaigns ---------------------------------------------------------------


async def test_the_properties_api_gives_hubspots_types(api: httpx.AsyncClient) -> None:
    results = (await api.get("/crm/v3/properties/0-3")).json()["results"]
    types = {p["name"]: (p["type"], p["fieldType"]) for p in results}
    assert types["amount"] == ("number", "number")
    assert types["closedate"] == ("datetime", "date")
    assert types["hs_is_closed_won"] == ("bool", "booleancheckbox")
    one = (await api.get("/crm/v3/properties/deals/amount")).json()
    assert one["name"] == "amount"
    assert (await api.get("/crm/v3/properties/deals/nope")).status_code == 404


async def test_campaigns_list_sorts_filters_and_pages(
    api: httpx.AsyncClient, sim: HubSpotSimulator
) -> None:
    seen: list[dict[str, Any]] = []
    params: dict[str, str] = {"limit": "4", "sort": "-updatedAt", "properties": "hs_name"}
    while True:
        body = (await api.get("/marketing/v3/campaigns", params=params)).json()
        assert body["total"] == len(sim.ids("campaigns"))
        seen += body["results"]
        if "paging" not in body:
            break
        params["after"] = body["paging"]["next"]["after"]
        assert base64.b64decode(params["after"]).decode().strip().isdigit()
    assert [c["updatedAt"] for c in seen] == sorted((c["updatedAt"] for c in seen), reverse=True)
    assert {c["id"] for c in seen} == sim.ids("campaigns")
    assert all(set(c["properties"]) == {"hs_name"} for c in seen)
    bare = (await api.get("/marketing/v3/campaigns", params={"limit": "1"})).json()
    assert bare["results"][0]["properties"] == {}
    name = seen[0]["properties"]["hs_name"]
    named = (await api.get("/marketing/v3/campaigns", params={"name": name[3:9].lower()})).json()
    assert seen[0]["id"] in {c["id"] for c in named["results"]}


async def test_campaign_assets_are_the_worlds_assets_as_tracked_urls(
    api: httpx.AsyncClient, sim: HubSpotSimulator
) -> None:
    campaign = sim.world.campaigns[2]
    path = f"/marketing/v3/campaigns/{campaign.id}/assets"
    listed: list[dict[str, Any]] = []
    params: dict[str, str] = {"limit": "7"}
    while True:
        body = (await api.get(f"{path}/EXTERNAL_WEB_URL", params=params)).json()
        listed += body["results"]
        if "paging" not in body:
            break
        params["after"] = body["paging"]["next"]["after"]
    assets = sim.world.campaign_assets(campaign.key)
    assert [a["id"] for a in listed] == [a.id for a in assets]
    assert all(f"utm_content={a.id}" in x["name"] for x, a in zip(listed, assets, strict=True))
    assert (await api.get(f"{path}/FORM")).json() == {"results": []}
    assert_hubspot_error(await api.get(f"{path}/PICTURE"), 400, "VALIDATION_ERROR")
    metrics = await api.get(
        f"{path}/FORM", params={"startDate": "2026-01-01", "endDate": "2026-02-01"}
    )
    assert_hubspot_error(metrics, 400, "VALIDATION_ERROR")


# ----- webhooks -------------------------------------------------------------------------------


def test_changes_queue_events_that_a_signed_delivery_drains(
    sim: HubSpotSimulator, clock: FakeClock
) -> None:
    deal = sorted(sim.ids("deals"))[0]
    sim.modify("deals", deal, {"dealstage": "closedlost"})
    created = sim.create("contacts", {"email": "new@example.com"})
    sim.archive("contacts", created)
    delivered = sim.pending_delivery(url="https://hooks.example/h")
    assert delivered is not None
    headers, body, url = delivered
    events = json.loads(body)
    assert [e["subscriptionType"] for e in events] == [
        "deal.propertyChange",
        "contact.creation",
        "contact.deletion",
    ]
    assert events[0]["propertyName"] == "dealstage"
    assert events[0]["propertyValue"] == "closedlost"
    stamp = headers["X-HubSpot-Request-Timestamp"]
    assert int(stamp) == int(clock.wall() * 1000)
    source = b"POST" + url.encode() + body + stamp.encode()
    digest = hmac.new(sim.client_secret.encode(), source, hashlib.sha256).digest()
    assert headers["X-HubSpot-Signature-v3"] == base64.b64encode(digest).decode()
    legacy = hashlib.sha256(sim.client_secret.encode() + body).hexdigest()
    assert (headers["X-HubSpot-Signature"], headers["X-HubSpot-Signature-Version"]) == (
        legacy,
        "v1",
    )
    assert sim.pending_delivery() is None


# ----- mounting -------------------------------------------------------------------------------


async def test_mounted_under_a_path_it_serves_and_links_below_it(sim: HubSpotSimulator) -> None:
    outer = Starlette(routes=[Mount("/sandbox/hubspot", app=sim)])
    headers = {"Authorization": f"Bearer {sim.token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=outer), base_url=ORIGIN) as c:
        response = await c.get("/sandbox/hubspot/crm/v3/objects/contacts", headers=headers)
        assert response.status_code == 200
        link = response.json()["paging"]["next"]["link"]
        assert link.startswith(f"{ORIGIN}/sandbox/hubspot/crm/v3/objects/contacts?")
        found = await c.post(
            "/sandbox/hubspot/crm/v3/objects/deals/search", json={}, headers=headers
        )
        assert "X-HubSpot-RateLimit-Max" not in found.headers


async def test_a_small_search_cap_is_configurable() -> None:
    sim = make_simulator(search_limits=SearchLimits(result_cap=12))
    headers = {"Authorization": f"Bearer {sim.token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url=ORIGIN) as c:
        url = "/crm/v3/objects/contacts/search"
        assert (
            await c.post(url, json={"after": "7", "limit": 5}, headers=headers)
        ).status_code == 200
        assert (
            await c.post(url, json={"after": "8", "limit": 5}, headers=headers)
        ).status_code == 400
