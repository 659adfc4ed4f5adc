"""The Salesforce simulator over HTTP: tokens, query paging, SOQL, errors, limits, mounting."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from syncbridge_salesforce import spec
from syncbridge_salesforce.auth import JWT_GRANT, jwt_assertion
from syncbridge_salesforce.sim_org import Org
from syncbridge_salesforce.sim_query import QueryService
from syncbridge_salesforce.simulator import SalesforceSimulator

from syncbridge.connector.http import create_http_client
from syncbridge.connector.testing import ids_of, read_all
from syncbridge.sandbox.world import World

from .support import USERNAME, client_for, jwt_key, make_simulator, other_key

BASE = "https://acme.my.salesforce.test"
DATA = f"{BASE}/services/data/v62.0"


@pytest.fixture
def sim() -> SalesforceSimulator:
    return make_simulator()


@pytest.fixture
async def http(sim: SalesforceSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(sim) as client:
        yield client


async def token(http: httpx.AsyncClient, sim: SalesforceSimulator) -> str:
    answer = await http.post(
        f"{BASE}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": sim.app.client_id,
            "client_secret": sim.app.client_secret,
        },
    )
    assert answer.status_code == 200
    value: str = answer.json()["access_token"]
    return value


@pytest.fixture
async def auth(http: httpx.AsyncClient, sim: SalesforceSimulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {await token(http, sim)}"}


async def query(
    http: httpx.AsyncClient, auth: dict[str, str], soql: str, *, resource: str = "query", **kw: Any
) -> httpx.Response:
    return await http.get(f"{DATA}/{resource}", params={"q": soql}, headers=auth, **kw)


async def all_records(
    http: httpx.AsyncClient, auth: dict[str, str], soql: str
) -> list[dict[str, Any]]:
    """Every record of a query, following ``nextRecordsUrl``."""
    body = (await query(http, auth, soql)).json()
    records: list[dict[str, Any]] = body["records"]
    while not body["done"]:
        body = (await http.get(f"{BASE}{body['nextRecordsUrl']}", headers=auth)).json()
        records += body["records"]
    return records


def error_of(response: httpx.Response) -> str:
    body = response.json()
    assert isinstance(body, list)
    assert set(body[0]) == {"message", "errorCode"}
    code: str = body[0]["errorCode"]
    return code


# ----- OAuth -------------------------------------------------------------------------------


async def test_client_credentials_answer_the_documented_token_shape(
    http: httpx.AsyncClient, sim: SalesforceSimulator
) -> None:
    answer = await http.post(
        f"{BASE}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(sim.app.client_id, sim.app.client_secret),  # HTTP Basic, as simple-salesforce
    )
    body = answer.json()
    assert set(body) >= {"access_token", "instance_url", "id", "token_type", "issued_at"}
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == BASE
    assert body["id"].endswith(f"/id/{sim.organization_id}/{sim.org.user_id}")


@pytest.mark.parametrize(
    ("form", "error"),
    [
        (
            {"grant_type": "client_credentials", "client_id": "nope", "client_secret": "x"},
            "invalid_client_id",
        ),
        ({"grant_type": "client_credentials", "client_secret": "x"}, "invalid_client_id"),
        ({"grant_type": "password", "username": "u", "password": "p"}, "unsupported_grant_type"),
        ({"grant_type": JWT_GRANT, "assertion": "a.b.c"}, "invalid_grant"),
        ({"grant_type": JWT_GRANT}, "invalid_grant"),
    ],
)
async def test_refused_token_requests_answer_salesforce_errors(
    http: httpx.AsyncClient, form: dict[str, str], error: str
) -> None:
    answer = await http.post(f"{BASE}/services/oauth2/token", data=form)
    assert answer.status_code == 400
    assert answer.json()["error"] == error
    assert answer.json()["error_description"]


async def test_a_wrong_consumer_secret_is_invalid_client(
    http: httpx.AsyncClient, sim: SalesforceSimulator
) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": sim.app.client_id,
        "client_secret": "x",
    }
    answer = await http.post(f"{BASE}/services/oauth2/token", data=form)
    assert answer.json() == {
        "error": "invalid_client",
        "error_description": "invalid client credentials",
    }


def assertion(**claims: Any) -> str:
    values: dict[str, Any] = {
        "issuer": "3MVG9sandbox.salesforce.42",
        "subject": USERNAME,
        "audience": "https://login.salesforce.com",
        "now": time.time(),
        **claims,
    }
    key = values.pop("key", jwt_key())
    return jwt_assertion(key, **values)


@pytest.mark.parametrize(
    ("claims", "description"),
    [
        ({}, None),
        ({"key": other_key()}, "invalid assertion"),
        ({"now": time.time() - 600}, "invalid assertion"),
        ({"audience": "https://acme.my.salesforce.com"}, "audience is invalid"),
        ({"subject": "intruder@acme.example"}, "user hasn't approved this consumer"),
        ({"issuer": "3MVG9other"}, "client identifier invalid"),
    ],
)
async def test_jwt_assertions_are_verified(
    http: httpx.AsyncClient, claims: dict[str, Any], description: str | None
) -> None:
    answer = await http.post(
        f"{BASE}/services/oauth2/token",
        data={"grant_type": JWT_GRANT, "assertion": assertion(**claims)},
    )
    if description is None:
        assert answer.status_code == 200
        assert answer.json()["access_token"]
    else:
        assert answer.status_code == 400
        assert answer.json()["error_description"] == description


async def test_the_token_endpoint_wants_a_form(http: httpx.AsyncClient) -> None:
    answer = await http.post(f"{BASE}/services/oauth2/token", json={"grant_type": "x"})
    assert answer.json()["error"] == "invalid_request"


# ----- sessions, versions, limits ------------------------------------------------------------


async def test_the_versions_list_needs_no_token(http: httpx.AsyncClient) -> None:
    versions = (await http.get(f"{BASE}/services/data/")).json()
    v62 = next(v for v in versions if v["version"] == "62.0")
    assert v62 == {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"}


async def test_without_a_live_session_the_api_answers_invalid_session_id(
    http: httpx.AsyncClient, sim: SalesforceSimulator, auth: dict[str, str]
) -> None:
    missing = await http.get(f"{DATA}/limits")
    assert missing.status_code == 401
    assert error_of(missing) == "INVALID_SESSION_ID"
    assert (await http.get(f"{DATA}/limits", headers=auth)).status_code == 200
    sim.expire_sessions()
    expired = await http.get(f"{DATA}/limits", headers=auth)
    assert (expired.status_code, error_of(expired)) == (401, "INVALID_SESSION_ID")


async def test_every_call_counts_against_the_daily_allocation(http: httpx.AsyncClient) -> None:
    sim = make_simulator(daily_api_limit=2)
    async with client_for(sim) as local:
        headers = {"Authorization": f"Bearer {await token(local, sim)}"}
        first = await local.get(f"{DATA}/limits", headers=headers)
        assert first.headers["Sforce-Limit-Info"] == "api-usage=1/2"
        assert first.json()["DailyApiRequests"] == {"Max": 2, "Remaining": 1}
        second = await local.get(f"{DATA}/sobjects", headers=headers)
        assert second.headers["Sforce-Limit-Info"] == "api-usage=2/2"
        third = await local.get(f"{DATA}/limits", headers=headers)
        assert third.status_code == 403
        assert error_of(third) == "REQUEST_LIMIT_EXCEEDED"
    assert http is not None


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/services/data/v62.0/nothing", 404, "NOT_FOUND"),
        ("GET", "/services/data/v99.0/limits", 404, "NOT_FOUND"),
        ("GET", "/services/apexrest/x", 404, "NOT_FOUND"),
        ("GET", "/services/data/v62.0/sobjects/Lead/describe", 404, "NOT_FOUND"),
        ("DELETE", "/services/data/v62.0/sobjects/Campaign", 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/services/data/v62.0/query", 405, "METHOD_NOT_ALLOWED"),
        ("GET", "/services/oauth2/token", 405, "METHOD_NOT_ALLOWED"),
    ],
)
async def test_unknown_routes_and_methods_answer_the_error_array(
    http: httpx.AsyncClient, auth: dict[str, str], method: str, path: str, status: int, code: str
) -> None:
    answer = await http.request(method, f"{BASE}{path}", headers=auth)
    assert answer.status_code == status
    assert error_of(answer) == code


# ----- query -------------------------------------------------------------------------------


async def test_a_query_pages_through_next_records_url(
    http: httpx.AsyncClient, sim: SalesforceSimulator, auth: dict[str, str]
) -> None:
    first = (await query(http, auth, "SELECT Id, Name FROM Contact")).json()
    assert first["totalSize"] == 50
    assert first["done"] is False
    assert len(first["records"]) == 7
    record = first["records"][0]
    assert record["attributes"] == {
        "type": "Contact",
        "url": f"/services/data/v62.0/sobjects/Contact/{record['Id']}",
    }
    assert set(record) == {"attributes", "Id", "Name"}
    url = first["nextRecordsUrl"]
    assert url.startswith("/services/data/v62.0/query/01g")
    assert url.endswith("-7")
    ids = [r["Id"] for r in first["records"]]
    while url:
        page = (await http.get(f"{BASE}{url}", headers=auth)).json()
        ids += [r["Id"] for r in page["records"]]
        url = page.get("nextRecordsUrl")
        assert page["done"] is (url is None)
    assert sorted(ids) == sorted(sim.org.live_ids("Contact"))


async def test_unknown_fields_in_a_query_are_invalid_field(
    http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    answer = await query(http, auth, "SELECT Id, Nope FROM Contact")
    assert answer.status_code == 400
    assert error_of(answer) == "INVALID_FIELD"
    assert "No such column 'Nope' on entity 'Contact'" in answer.json()[0]["message"]


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM Lead", "INVALID_TYPE"),
        ("SELECT FROM Contact", "MALFORMED_QUERY"),
        ("SELECT Id, Account.Name FROM Contact", "MALFORMED_QUERY"),
        ("SELECT COUNT() FROM Contact", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact GROUP BY Id", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact LIMIT 5 OFFSET 5", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact WHERE Email LIKE '%a%'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact WHERE SystemModstamp > LAST_N_DAYS:3", "INVALID_FIELD"),
        ("SELECT Id FROM Contact WHERE SystemModstamp > '2026-01-01T00:00:00Z'", "INVALID_FIELD"),
        ("SELECT Id FROM Contact WHERE Email = 5", "INVALID_FIELD"),
        ("SELECT Id FROM Contact WHERE Email = 'a' AND Id = 'b' OR Id = 'c'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact ORDER BY", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact LIMIT -1", "MALFORMED_QUERY"),
        ("SELECT (SELECT Id FROM Contacts) FROM Account", "MALFORMED_QUERY"),
        ("", "MALFORMED_QUERY"),
    ],
)
async def test_queries_outside_the_subset_are_refused_not_ignored(
    http: httpx.AsyncClient, auth: dict[str, str], soql: str, code: str
) -> None:
    answer = await query(http, auth, soql)
    assert answer.status_code == 400
    assert error_of(answer) == code


async def test_filters_order_and_limit_behave_as_soql(
    http: httpx.AsyncClient, sim: SalesforceSimulator, auth: dict[str, str]
) -> None:
    rows = sim.org.tables["Opportunity"].rows.values()
    won = sorted((r for r in rows if r["IsWon"]), key=lambda r: (-r["Amount"], r["Id"]))
    soql = "SELECT Id FROM Opportunity WHERE IsWon = TRUE ORDER BY Amount DESC, Id LIMIT 3"
    body = (await query(http, auth, soql)).json()
    assert [r["Id"] for r in body["records"]] == [r["Id"] for r in won[:3]]
    assert body["totalSize"] == min(3, len(won))
    campaign = sorted(sim.org.live_ids("Campaign"))[0]
    either = (
        f"SELECT Id FROM Opportunity WHERE (CampaignId = '{campaign[:15]}' AND IsWon = FALSE) "
        "OR (NOT Amount < 50000)"
    )
    expected = {
        r["Id"]
        for r in rows
        if (r["CampaignId"] == campaign and not r["IsWon"]) or r["Amount"] >= 50000
    }
    got = {r["Id"] for r in await all_records(http, auth, either)}
    assert got == expected
    names = sorted(sim.org.live_ids("Contact"))[:2]
    listed = f"SELECT Id FROM Contact WHERE Id IN ('{names[0]}', '{names[1]}')"
    assert {r["Id"] for r in await all_records(http, auth, listed)} == set(names)


async def test_query_all_includes_the_recycle_bin(
    http: httpx.AsyncClient, sim: SalesforceSimulator, auth: dict[str, str]
) -> None:
    gone = sorted(sim.org.live_ids("Campaign"))[0]
    sim.org.delete("Campaign", gone)
    soql = f"SELECT Id, IsDeleted FROM Campaign WHERE Id = '{gone}'"
    assert (await query(http, auth, soql)).json()["records"] == []
    deleted = (await query(http, auth, soql, resource="queryAll")).json()["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in deleted] == [(gone, True)]


@pytest.mark.parametrize(
    ("option", "size"), [("batchSize=50", 200), ("batchSize=300", 300), ("", 2000)]
)
async def test_batch_size_follows_the_query_options_header(option: str, size: int) -> None:
    sim = make_simulator(assets=2400, batch_cap=2000)  # 600 contacts
    async with client_for(sim) as local:
        auth = {"Authorization": f"Bearer {await token(local, sim)}"}
        headers = {**auth, "Sforce-Query-Options": option} if option else auth
        body = (await query(local, headers, "SELECT Id FROM Contact")).json()
    assert len(body["records"]) == min(size, 600)


async def test_a_bad_query_options_header_is_refused(
    http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    answer = await query(
        http, {**auth, "Sforce-Query-Options": "batchSize=x"}, "SELECT Id FROM Contact"
    )
    assert answer.status_code == 400


async def test_a_dropped_locator_is_invalid_query_locator(
    http: httpx.AsyncClient, sim: SalesforceSimulator, auth: dict[str, str]
) -> None:
    url = (await query(http, auth, "SELECT Id FROM Contact")).json()["nextRecordsUrl"]
    sim.queries.expire_all()
    answer = await http.get(f"{BASE}{url}", headers=auth)
    assert (answer.status_code, error_of(answer)) == (400, "INVALID_QUERY_LOCATOR")
    bogus = await http.get(f"{DATA}/query/garbage", headers=auth)
    assert error_of(bogus) == "INVALID_QUERY_LOCATOR"


async def test_a_query_is_a_snapshot_of_its_rows(
    http: httpx.AsyncClient, sim: SalesforceSimulator, auth: dict[str, str]
) -> None:
    first = (await query(http, auth, "SELECT Id, LastName FROM Contact ORDER BY Id")).json()
    later = sorted(sim.org.live_ids("Contact"))[10]
    before = sim.org.tables["Contact"].rows[later]["LastName"]
    sim.org.update("Contact", later, LastName="Changed")
    page = (await http.get(f"{BASE}{first['nextRecordsUrl']}", headers=auth)).json()
    assert {r["Id"]: r["LastName"] for r in page["records"]}[later] == before


# ----- describe and retrieve ------------------------------------------------------------------


async def test_describe_names_every_field_and_type(
    http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = (await http.get(f"{DATA}/sobjects/Campaign/describe", headers=auth)).json()
    types = {f["name"]: f["type"] for f in body["fields"]}
    assert types["BudgetedCost"] == "currency"
    assert types["StartDate"] == "date"
    assert types["SystemModstamp"] == "datetime"
    assert types["UTM_Campaign__c"] == "string"
    custom = {f["name"] for f in body["fields"] if f["custom"]}
    assert custom == {"UTM_Source__c", "UTM_Medium__c", "UTM_Campaign__c", "DAM_Asset_Ids__c"}
    assert body["keyPrefix"] == "701"


async def test_retrieve_answers_a_record_or_the_documented_404s(
    http: httpx.AsyncClient, sim: SalesforceSimulator, auth: dict[str, str]
) -> None:
    ids = sorted(sim.org.live_ids("Campaign"))
    record = (await http.get(f"{DATA}/sobjects/Campaign/{ids[0]}?fields=Name", headers=auth)).json()
    assert set(record) == {"attributes", "Name"}
    full = (await http.get(f"{DATA}/sobjects/Campaign/{ids[0][:15]}", headers=auth)).json()
    assert full["Id"] == ids[0]
    sim.org.delete("Campaign", ids[1])
    gone = await http.get(f"{DATA}/sobjects/Campaign/{ids[1]}", headers=auth)
    assert (gone.status_code, error_of(gone)) == (404, "ENTITY_IS_DELETED")
    missing = await http.get(f"{DATA}/sobjects/Campaign/001Hs0000000001IAA", headers=auth)
    assert (missing.status_code, error_of(missing)) == (404, "NOT_FOUND")
    bad_field = await http.get(f"{DATA}/sobjects/Campaign/{ids[0]}?fields=Nope", headers=auth)
    assert (bad_field.status_code, error_of(bad_field)) == (400, "INVALID_FIELD")


async def test_collections_retrieve_answers_null_for_what_it_cannot_give(
    http: httpx.AsyncClient, sim: SalesforceSimulator, auth: dict[str, str]
) -> None:
    ids = sorted(sim.org.live_ids("Contact"))[:2]
    body = {"ids": [ids[0], "bogus", ids[1]], "fields": ["Id", "Email"]}
    answer = (await http.post(f"{DATA}/composite/sobjects/Contact", json=body, headers=auth)).json()
    assert [r and r["Id"] for r in answer] == [ids[0], None, ids[1]]
    by_get = await http.get(
        f"{DATA}/composite/sobjects/Contact",
        params={"ids": ",".join(ids), "fields": "Email"},
        headers=auth,
    )
    assert [set(r) for r in by_get.json()] == [{"attributes", "Email"}] * 2
    too_many = {"ids": [ids[0]] * 2001, "fields": ["Id"]}
    refused = await http.post(f"{DATA}/composite/sobjects/Contact", json=too_many, headers=auth)
    assert error_of(refused) == "EXCEEDED_ID_LIMIT"
    empty = await http.post(f"{DATA}/composite/sobjects/Contact", json={"ids": []}, headers=auth)
    assert empty.status_code == 400


# ----- the world and the index -----------------------------------------------------------------


def test_opportunities_carry_their_primary_campaign_and_campaigns_their_assets() -> None:
    world = World(seed=42, assets_count=100)
    org = Org(world)
    for deal in world.deals:
        row = org.tables["Opportunity"].rows[org.opportunity_ids[deal.id]]
        assert row["CampaignId"] == org.campaign_ids[deal.campaign_key]
        assert row["Amount"] == float(deal.amount)
    for campaign in world.campaigns:
        row = org.tables["Campaign"].rows[org.campaign_ids[campaign.key]]
        assets = {world.utm_content(a) for a in world.campaign_assets(campaign.key)}
        assert set((row["DAM_Asset_Ids__c"] or "").split(";")) - {""} == assets
        assert row["UTM_Campaign__c"] == campaign.key
    members = {r["ContactId"] for r in org.tables["CampaignMember"].rows.values()}
    assert members == set(org.tables["Contact"].rows)


@pytest.mark.parametrize(
    "where",
    [
        "",
        " WHERE SystemModstamp >= 2026-03-01T00:00:00Z",
        " WHERE SystemModstamp > 2026-03-01T00:00:00Z",
        " WHERE (SystemModstamp = 2026-03-01T00:00:00Z AND Id > '003Hs000000000A')"
        " OR SystemModstamp > 2026-03-01T00:00:00Z",
    ],
)
def test_an_indexed_query_answers_what_filtering_every_row_answers(where: str) -> None:
    org = Org(World(seed=7, assets_count=200))
    for record_id in sorted(org.tables["Contact"].rows)[::3]:
        org.update("Contact", record_id, SystemModstamp=datetime(2026, 3, 1, tzinfo=UTC))
    service = QueryService(org)
    indexed, _ = service.run(
        f"SELECT Id FROM Contact{where} ORDER BY SystemModstamp, Id",
        include_deleted=False,
        batch=2000,
    )
    scanned, _ = service.run(
        f"SELECT Id FROM Contact{where} ORDER BY SystemModstamp ASC NULLS LAST, Id ASC NULLS LAST",
        include_deleted=False,
        batch=2000,
    )
    assert [r["Id"] for r in indexed.rows] == [r["Id"] for r in scanned.rows]
    assert indexed.rows


# ----- mounted under a path --------------------------------------------------------------------


async def test_mounted_under_a_path_the_connector_reads_every_page() -> None:
    sim = make_simulator()
    outer = Starlette(routes=[Mount("/sandbox/salesforce", app=sim)])
    base = "http://127.0.0.1:8000/sandbox/salesforce"
    async with create_http_client(transport=httpx.ASGITransport(app=outer)) as client:
        settings = spec.settings_model(**sim.connection_settings(base))
        connector = spec.factory(settings, client)
        assert (await connector.check()).ok
        pages = await read_all(connector, "Contact")
    assert len(pages) > 1
    assert sorted(ids_of(pages)) == sorted(sim.org.live_ids("Contact"))
