"""The GA4 simulator speaks the Data API as documented: sign-in, runReport, quotas, errors."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from syncbridge_ga4.service_account import GOOGLE_TOKEN_URI
from syncbridge_ga4.sim_auth import SandboxServiceAccount
from syncbridge_ga4.sim_query import parse_query
from syncbridge_ga4.sim_quota import PropertyQuota
from syncbridge_ga4.simulator import Ga4Simulator

from syncbridge.connector.jwt import JWT_BEARER_GRANT as JWT_BEARER
from syncbridge.sandbox.faults import FaultKnobs

from .support import BASE, account, make_simulator, stranger

API = "https://www.googleapis.com/auth/analytics.readonly"


class Wall:
    """A settable wall clock for the simulator (Unix seconds)."""

    def __init__(self) -> None:
        self.now = 1_767_225_600.0

    def __call__(self) -> float:
        return self.now


def jwt(
    signer: SandboxServiceAccount,
    claims: dict[str, Any],
    header: dict[str, Any] | None = None,
) -> str:
    def segment(value: dict[str, Any]) -> str:
        raw = json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = header or {"alg": "RS256", "typ": "JWT", "kid": signer.private_key_id}
    signing_input = f"{segment(head)}.{segment(claims)}"
    signature = signer.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


def claims(now: float, **changes: Any) -> dict[str, Any]:
    base = {
        "iss": account().client_email,
        "scope": API,
        "aud": GOOGLE_TOKEN_URI,
        "iat": int(now),
        "exp": int(now) + 3600,
    }
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


@pytest.fixture
def wall() -> Wall:
    return Wall()


@pytest.fixture
def sim(wall: Wall) -> Ga4Simulator:
    return make_simulator(wall_clock=wall)


@pytest.fixture
async def http(sim: Ga4Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url=BASE) as client:
        yield client


async def token_answer(http: httpx.AsyncClient, assertion: str, **form: str) -> httpx.Response:
    data = {"grant_type": JWT_BEARER, "assertion": assertion, **form}
    return await http.post("/token", data=data)


@pytest.fixture
async def api(
    sim: Ga4Simulator, http: httpx.AsyncClient, wall: Wall
) -> AsyncIterator[httpx.AsyncClient]:
    answer = await token_answer(http, jwt(account(), claims(wall.now)))
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    transport = httpx.ASGITransport(app=sim)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as client:
        yield client


def body(**fields: Any) -> dict[str, Any]:
    return {
        "dateRanges": [{"startDate": "3daysAgo", "endDate": "today"}],
        "dimensions": [{"name": "date"}, {"name": "customEvent:asset_id"}],
        "metrics": [{"name": "screenPageViews"}, {"name": "keyEvents"}],
        **fields,
    }


async def report(
    sim: Ga4Simulator, api: httpx.AsyncClient, request: dict[str, Any], **params: str
) -> dict[str, Any]:
    response = await api.post(
        f"/v1beta/properties/{sim.property_id}:runReport", json=request, params=params
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def refusal(
    sim: Ga4Simulator, api: httpx.AsyncClient, request: Any, status: int = 400
) -> str:
    response = await api.post(f"/v1beta/properties/{sim.property_id}:runReport", json=request)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == status
    assert set(error) == {"code", "message", "status"}
    return f"{error['status']}: {error['message']}"


def world_rows(sim: Ga4Simulator, days: int = 4) -> list[Any]:
    return [r for k in range(days) for r in sim.rows(sim.today - timedelta(days=k))]


# ----- the token endpoint -------------------------------------------------------------------


async def test_a_signed_assertion_gets_a_bearer_token(http: httpx.AsyncClient, wall: Wall) -> None:
    answer = await token_answer(http, jwt(account(), claims(wall.now)))
    assert answer.status_code == 200
    token = answer.json()
    assert set(token) == {"access_token", "expires_in", "token_type"}
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3599


async def test_the_token_uri_itself_is_an_accepted_audience(
    http: httpx.AsyncClient, wall: Wall
) -> None:
    answer = await token_answer(http, jwt(account(), claims(wall.now, aud=f"{BASE}/token")))
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    ("changes", "error", "description"),
    [
        ({"aud": "https://elsewhere.example/token"}, "invalid_grant", "audience"),
        ({"iss": "nobody@example.iam.gserviceaccount.com"}, "invalid_grant", "account not found"),
        ({"scope": None}, "invalid_scope", "scope"),
        ({"iat": -7200, "exp": -3600}, "invalid_grant", "short-lived"),
        ({"exp": 7200}, "invalid_grant", "short-lived"),
        ({"iat": 600, "exp": 1200}, "invalid_grant", "short-lived"),
        ({"iat": None}, "invalid_grant", "short-lived"),
    ],
)
async def test_bad_assertions_get_googles_oauth_errors(
    http: httpx.AsyncClient, wall: Wall, changes: dict[str, Any], error: str, description: str
) -> None:
    shifted = {
        k: (int(wall.now) + v if k in ("iat", "exp") and v is not None else v)
        for k, v in changes.items()
    }
    answer = await token_answer(http, jwt(account(), claims(wall.now, **shifted)))
    assert answer.status_code == 400
    assert answer.json()["error"] == error
    assert description in answer.json()["error_description"]


async def test_a_signature_by_another_key_is_refused(http: httpx.AsyncClient, wall: Wall) -> None:
    answer = await token_answer(http, jwt(stranger(), claims(wall.now)))
    assert answer.json() == {
        "error": "invalid_grant",
        "error_description": "Invalid JWT Signature.",
    }


async def test_a_tampered_assertion_is_refused(http: httpx.AsyncClient, wall: Wall) -> None:
    head, payload, signature = jwt(account(), claims(wall.now)).split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "==")) | {"scope": "x"}
    raw = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    answer = await token_answer(http, f"{head}.{raw}.{signature}")
    assert answer.json()["error_description"] == "Invalid JWT Signature."


@pytest.mark.parametrize("alg", ["none", "HS256", "RS512"])
async def test_only_rs256_is_accepted(http: httpx.AsyncClient, wall: Wall, alg: str) -> None:
    answer = await token_answer(http, jwt(account(), claims(wall.now), {"alg": alg}))
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


async def test_the_grant_type_and_assertion_are_required(http: httpx.AsyncClient) -> None:
    wrong = await token_answer(http, "x", grant_type="client_credentials")
    assert wrong.json()["error"] == "unsupported_grant_type"
    missing = await http.post("/token", data={"grant_type": JWT_BEARER})
    assert missing.json() == {
        "error": "invalid_request",
        "error_description": "Missing required parameter: assertion",
    }
    as_json = await http.post("/token", json={"grant_type": JWT_BEARER, "assertion": "x"})
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"
    garbage = await token_answer(http, "a.b.c")
    assert garbage.json()["error"] == "invalid_grant"


# ----- bearer tokens ------------------------------------------------------------------------


async def test_api_calls_need_a_valid_bearer(sim: Ga4Simulator, http: httpx.AsyncClient) -> None:
    response = await http.post(f"/v1beta/properties/{sim.property_id}:runReport", json=body())
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"
    forged = {"Authorization": "Bearer ya29.sandbox-guessed"}
    response = await http.post(
        f"/v1beta/properties/{sim.property_id}:runReport", json=body(), headers=forged
    )
    assert response.status_code == 401


async def test_an_expired_token_is_refused(sim: Ga4Simulator, api: httpx.AsyncClient) -> None:
    await report(sim, api, body())
    sim.expire_tokens()
    assert "UNAUTHENTICATED" in await refusal(sim, api, body(), status=401)


async def test_a_token_without_an_analytics_scope_is_forbidden(
    sim: Ga4Simulator, http: httpx.AsyncClient, wall: Wall
) -> None:
    scoped = claims(wall.now, scope="https://www.googleapis.com/auth/drive")
    token = (await token_answer(http, jwt(account(), scoped))).json()["access_token"]
    response = await http.post(
        f"/v1beta/properties/{sim.property_id}:runReport",
        json=body(),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Request had insufficient authentication scopes."


async def test_a_self_signed_jwt_is_a_bearer_as_client_libraries_send(
    sim: Ga4Simulator, http: httpx.AsyncClient, wall: Wall
) -> None:
    own = claims(wall.now, aud="https://analyticsdata.googleapis.com/", scope=None)
    own["sub"] = own["iss"]
    response = await http.post(
        f"/v1beta/properties/{sim.property_id}:runReport",
        json=body(),
        headers={"Authorization": f"Bearer {jwt(account(), own)}"},
    )
    assert response.status_code == 200, response.text
    forged = jwt(stranger(), own)
    response = await http.post(
        f"/v1beta/properties/{sim.property_id}:runReport",
        json=body(),
        headers={"Authorization": f"Bearer {forged}"},
    )
    assert response.status_code == 401


async def test_other_properties_are_forbidden(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1beta/properties/1:runReport", json=body())
    assert response.status_code == 403
    assert response.json()["error"]["status"] == "PERMISSION_DENIED"
    response = await api.post("/v1beta/properties/abc:runReport", json=body())
    assert response.status_code == 400


# ----- runReport: shapes --------------------------------------------------------------------


async def test_every_value_is_a_string_and_headers_carry_types(
    sim: Ga4Simulator, api: httpx.AsyncClient
) -> None:
    request = body(metrics=[{"name": "sessions"}, {"name": "totalRevenue"}])
    answer = await report(sim, api, request)
    assert answer["metricHeaders"] == [
        {"name": "sessions", "type": "TYPE_INTEGER"},
        {"name": "totalRevenue", "type": "TYPE_CURRENCY"},
    ]
    assert answer["dimensionHeaders"] == [{"name": "date"}, {"name": "customEvent:asset_id"}]
    assert answer["kind"] == "analyticsData#runReport"
    assert answer["metadata"] == {"currencyCode": "USD", "timeZone": "America/New_York"}
    for row in answer["rows"]:
        assert all(isinstance(v["value"], str) for v in row["dimensionValues"])
        assert all(isinstance(v["value"], str) for v in row["metricValues"])
    revenue = {Decimal(r["metricValues"][1]["value"]) for r in answer["rows"]}
    assert sum(revenue) > 0
    numbers = await report(sim, api, request, **{"$alt": "json;enum-encoding=int"})
    assert [h["type"] for h in numbers["metricHeaders"]] == [1, 9]


async def test_row_count_is_independent_of_limit_and_offset(
    sim: Ga4Simulator, api: httpx.AsyncClient
) -> None:
    total = len(world_rows(sim))
    answer = await report(sim, api, body(limit="5", offset="3"))
    assert answer["rowCount"] == total
    assert len(answer["rows"]) == 5
    assert len((await report(sim, api, body()))["rows"]) == total  # default 10,000
    assert len((await report(sim, api, body(offset=total - 2)))["rows"]) == 2


async def test_an_empty_result_leaves_rows_and_row_count_out(
    sim: Ga4Simulator, api: httpx.AsyncClient
) -> None:
    answer = await report(sim, api, body(offset=100_000))
    assert "rows" not in answer
    assert answer["rowCount"] == len(world_rows(sim))
    future = {"startDate": "2030-01-01", "endDate": "2030-01-02"}
    answer = await report(sim, api, body(dateRanges=[future]))
    assert "rows" not in answer
    assert "rowCount" not in answer


def test_limit_is_capped_at_250000_and_defaults_to_10000() -> None:
    today = date(2026, 11, 30)
    assert parse_query(body(limit="999999"), property_id="1", today=today).limit == 250_000
    assert parse_query(body(), property_id="1", today=today).limit == 10_000


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"limit": "0"}, "limit must be positive"),
        ({"limit": -5}, "limit must be positive"),
        ({"offset": "-1"}, "offset must be non-negative"),
        ({"limit": "ten"}, "Invalid value at 'limit'"),
        ({"colour": "red"}, 'Unknown name "colour"'),
        ({"dimensions": [{"name": "date", "x": 1}]}, "Unknown name \"x\" at 'dimensions[0]'"),
        ({"dimensions": [{"name": "browserColour"}]}, "browserColour is not a valid dimension"),
        ({"metrics": [{"name": "bounceRates"}]}, "bounceRates is not a valid metric"),
        ({"dimensions": [{"name": "date"}, {"name": "date"}]}, "Duplicate dimension"),
        ({"dimensions": [{"name": "date"}] * 10}, "limited to 9 dimensions"),
        ({"dimensions": [], "metrics": []}, "at least one dimension or one metric"),
        ({"dateRanges": []}, "at least one date range"),
        ({"dateRanges": [{"startDate": "today", "endDate": "yesterday"}]}, "is after endDate"),
        ({"dateRanges": [{"startDate": "2026/11/01", "endDate": "today"}]}, "Invalid date"),
        ({"dateRanges": [{"startDate": "2014-01-01", "endDate": "today"}]}, "before 2015-08-14"),
        ({"dateRanges": [{"startDate": "today", "endDate": "today"}] * 2}, "one date range"),
        ({"cohortSpec": {"cohorts": [{}]}}, "cohortSpec is not supported"),
        ({"comparisons": [{"name": "x"}]}, "comparisons is not supported"),
        ({"currencyCode": "EUR"}, "USD only"),
        ({"metrics": [{"name": "sessions", "expression": "a+b"}]}, "expressions"),
        ({"metricAggregations": ["COUNT"]}, "COUNT is not supported"),
        ({"keepEmptyRows": "yes"}, "Invalid value at 'keepEmptyRows'"),
        ({"orderBys": [{"pivot": {}}]}, "pivot"),
        ({"orderBys": [{"metric": {"metricName": "sessions"}}]}, "not in the request's metrics"),
        ({"orderBys": [{"dimension": {"dimensionName": "pagePath"}}]}, "not in the request's"),
        ({"property": "properties/1"}, "must match the property in the URL"),
    ],
)
async def test_what_ga4_refuses_is_refused_in_its_envelope(
    sim: Ga4Simulator, api: httpx.AsyncClient, fields: dict[str, Any], reason: str
) -> None:
    message = await refusal(sim, api, body(**fields))
    assert message.startswith("INVALID_ARGUMENT: ")
    assert reason in message


async def test_garbage_bodies_are_refused(sim: Ga4Simulator, api: httpx.AsyncClient) -> None:
    path = f"/v1beta/properties/{sim.property_id}:runReport"
    response = await api.post(path, content=b"{not json", headers={"content-type": "text/json"})
    assert response.status_code == 400
    response = await api.post(path, content=b"[" * 100_000)
    assert response.status_code == 400
    response = await api.post(path, content=b" " * (2 * 1024 * 1024))
    assert response.status_code == 413


async def test_relative_dates_count_from_the_propertys_today(
    sim: Ga4Simulator, api: httpx.AsyncClient
) -> None:
    request = body(dimensions=[{"name": "date"}])
    for start, end, days in [
        ("today", "today", [sim.today]),
        ("yesterday", "yesterday", [sim.today - timedelta(days=1)]),
        ("2daysAgo", "yesterday", [sim.today - timedelta(days=2), sim.today - timedelta(days=1)]),
    ]:
        request["dateRanges"] = [{"startDate": start, "endDate": end}]
        answer = await report(
            sim, api, request | {"orderBys": [{"dimension": {"dimensionName": "date"}}]}
        )
        assert [r["dimensionValues"][0]["value"] for r in answer["rows"]] == [
            d.strftime("%Y%m%d") for d in days
        ]


# ----- runReport: aggregation, filters, order -----------------------------------------------


async def test_unrequested_dimensions_are_summed_over(
    sim: Ga4Simulator, api: httpx.AsyncClient
) -> None:
    request = body(dimensions=[{"name": "sessionSource"}], metrics=[{"name": "screenPageViews"}])
    answer = await report(sim, api, request)
    got = {
        r["dimensionValues"][0]["value"]: int(r["metricValues"][0]["value"]) for r in answer["rows"]
    }
    want: dict[str, int] = {}
    for row in world_rows(sim):
        source = row.source_medium.split(" / ")[0]
        want[source] = want.get(source, 0) + row.views
    assert got == want
    views = [int(r["metricValues"][0]["value"]) for r in answer["rows"]]
    assert views == sorted(views, reverse=True), "without orderBys: first metric, descending"


def _string(match: str | int, value: str, **more: Any) -> dict[str, Any]:
    return {"stringFilter": {"matchType": match, "value": value, **more}}


def _nothing(_value: str) -> bool:
    return False


FILTER_CASES: list[tuple[dict[str, Any], Any]] = [
    ({"stringFilter": {"value": "NEWSLETTER / EMAIL"}}, lambda sm: sm == "newsletter / email"),
    (_string("EXACT", "NEWSLETTER / EMAIL", caseSensitive=True), _nothing),
    (_string("BEGINS_WITH", "google"), lambda sm: sm.startswith("google")),
    (_string(3, "/ cpc"), lambda sm: sm.endswith("/ cpc")),
    (_string("CONTAINS", "social"), lambda sm: "social" in sm),
    (
        _string("FULL_REGEXP", "(google|linkedin) / .*"),
        lambda sm: sm.split(" / ")[0] in ("google", "linkedin"),
    ),
    (_string("PARTIAL_REGEXP", "^news"), lambda sm: sm.startswith("news")),
    (
        {"inListFilter": {"values": ["Google / CPC", "newsletter / email"]}},
        lambda sm: sm in ("google / cpc", "newsletter / email"),
    ),
    ({"emptyFilter": {}}, _nothing),
]


@pytest.mark.parametrize(("spec", "keep"), FILTER_CASES)
async def test_dimension_filters_match_as_documented(
    sim: Ga4Simulator, api: httpx.AsyncClient, spec: dict[str, Any], keep: Any
) -> None:
    flt = {"filter": {"fieldName": "sessionSourceMedium", **spec}}
    answer = await report(sim, api, body(dimensionFilter=flt, limit=100_000))
    got = {r["dimensionValues"][1]["value"] for r in answer.get("rows", [])}
    want = {row.asset_id for row in world_rows(sim) if keep(row.source_medium)}
    assert got == want


async def test_filter_groups_combine(sim: Ga4Simulator, api: httpx.AsyncClient) -> None:
    google = {"filter": {"fieldName": "sessionSource", "stringFilter": {"value": "google"}}}
    cpc = {"filter": {"fieldName": "sessionMedium", "stringFilter": {"value": "cpc"}}}
    expressions = {
        "andGroup": {"expressions": [google, {"notExpression": cpc}]},
    }
    answer = await report(sim, api, body(dimensionFilter=expressions))
    got = {r["dimensionValues"][1]["value"] for r in answer.get("rows", [])}
    want = {r.asset_id for r in world_rows(sim) if r.source_medium == "google / display"}
    assert got == want
    either = {"orGroup": {"expressions": [google, cpc]}}
    answer = await report(sim, api, body(dimensionFilter=either))
    got = {r["dimensionValues"][1]["value"] for r in answer.get("rows", [])}
    assert got == {r.asset_id for r in world_rows(sim) if r.source_medium.startswith("google")}


@pytest.mark.parametrize(
    ("flt", "reason"),
    [
        ({"filter": {"fieldName": "date", "numericFilter": {}}}, "cannot be used on dimension"),
        ({"filter": {"fieldName": "nope", **_string(1, "x")}}, "not a valid dimension"),
        ({"filter": {"fieldName": "pagePath", **_string("FULL_REGEXP", "(")}}, "invalid regular"),
        ({"filter": {"fieldName": "pagePath", **_string(9, "x")}}, "matchType"),
        ({"filter": {"fieldName": "pagePath"}}, "set exactly one of"),
        ({"andGroup": {}, "orGroup": {}}, "set exactly one of"),
        ({"sideways": {}}, 'Unknown name "sideways"'),
    ],
)  # fmt: skip
async def test_bad_dimension_filters_are_refused(
    sim: Ga4Simulator, api: httpx.AsyncClient, flt: dict[str, Any], reason: str
) -> None:
    assert reason in await refusal(sim, api, body(dimensionFilter=flt))


async def test_metric_filters_apply_after_aggregation(
    sim: Ga4Simulator, api: httpx.AsyncClient
) -> None:
    bound = sorted(r.views for r in world_rows(sim))[len(world_rows(sim)) // 2]
    over = {
        "filter": {
            "fieldName": "screenPageViews",
            "numericFilter": {"operation": "GREATER_THAN", "value": {"int64Value": str(bound)}},
        }
    }
    answer = await report(sim, api, body(metricFilter=over))
    views = [int(r["metricValues"][0]["value"]) for r in answer["rows"]]
    assert views
    assert all(v > bound for v in views)
    assert len(views) == sum(1 for r in world_rows(sim) if r.views > bound)
    between = {
        "filter": {
            "fieldName": "keyEvents",
            "betweenFilter": {"fromValue": {"int64Value": "1"}, "toValue": {"doubleValue": 3}},
        }
    }
    answer = await report(sim, api, body(metricFilter=between))
    assert len(answer["rows"]) == sum(1 for r in world_rows(sim) if 1 <= r.key_events <= 3)
    strings = {"filter": {"fieldName": "keyEvents", "stringFilter": {"value": "1"}}}
    assert "cannot be used on metric" in await refusal(sim, api, body(metricFilter=strings))
    unrequested = {
        "filter": {
            "fieldName": "sessions",
            "numericFilter": {"operation": 1, "value": {"int64Value": "1"}},
        }
    }
    assert "must be requested" in await refusal(sim, api, body(metricFilter=unrequested))


async def test_keep_empty_rows(sim: Ga4Simulator, api: httpx.AsyncClient) -> None:
    request = body(metrics=[{"name": "keyEvents"}])
    zero = sum(1 for r in world_rows(sim) if r.key_events == 0)
    assert zero, "the world has rows without key events"
    kept = await report(sim, api, request | {"keepEmptyRows": True})
    dropped = await report(sim, api, request)
    assert kept["rowCount"] == len(world_rows(sim))
    assert dropped["rowCount"] == len(world_rows(sim)) - zero


def _by(name: str, order_type: str | int = "ALPHANUMERIC", desc: bool = False) -> dict[str, Any]:
    return {"dimension": {"dimensionName": name, "orderType": order_type}, "desc": desc}


@pytest.mark.parametrize(
    "orders",
    [
        [_by("date")],
        [_by("date", desc=True), {"metric": {"metricName": "keyEvents"}, "desc": True}],
        [{"metric": {"metricName": "screenPageViews"}}],
        [_by("customEvent:asset_id", "CASE_INSENSITIVE_ALPHANUMERIC", desc=True)],
        [_by("date", 3), _by("customEvent:asset_id")],
    ],
)
async def test_pages_of_any_order_are_slices_of_the_whole_result(
    sim: Ga4Simulator, api: httpx.AsyncClient, orders: list[dict[str, Any]]
) -> None:
    whole = (await report(sim, api, body(orderBys=orders, limit=100_000)))["rows"]
    paged: list[Any] = []
    for offset in range(0, len(whole), 7):
        paged += (await report(sim, api, body(orderBys=orders, limit=7, offset=offset)))["rows"]
    assert paged == whole
    key = orders[0]
    column = 0 if "dimension" in key else None
    if column is not None and key["dimension"]["dimensionName"] == "date":
        dates = [r["dimensionValues"][0]["value"] for r in whole]
        assert dates == sorted(dates, reverse=key.get("desc", False))
    if "metric" in key:
        views = [int(r["metricValues"][0]["value"]) for r in whole]
        assert views == sorted(views)


async def test_metric_aggregations(sim: Ga4Simulator, api: httpx.AsyncClient) -> None:
    answer = await report(sim, api, body(metricAggregations=["TOTAL", 5, "MAXIMUM"], limit=3))
    rows = world_rows(sim)
    assert answer["totals"] == [
        {
            "dimensionValues": [{"value": "RESERVED_TOTAL"}] * 2,
            "metricValues": [
                {"value": str(sum(r.views for r in rows))},
                {"value": str(sum(r.key_events for r in rows))},
            ],
        }
    ]
    assert answer["minimums"][0]["metricValues"][0]["value"] == str(min(r.views for r in rows))
    assert answer["maximums"][0]["metricValues"][1]["value"] == str(max(r.key_events for r in rows))


# ----- late data, today, quotas -------------------------------------------------------------


async def test_revisions_grow_late_days_and_leave_older_days_alone(wall: Wall) -> None:
    # 400 assets: enough traffic on the last days for a revision to show.
    sim = make_simulator(wall_clock=wall, assets=400)
    transport = httpx.ASGITransport(app=sim)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as api:
        token = (await token_answer(api, jwt(account(), claims(wall.now)))).json()
        api.headers["Authorization"] = f"Bearer {token['access_token']}"
        await _revisions_grow(sim, api)


async def _revisions_grow(sim: Ga4Simulator, api: httpx.AsyncClient) -> None:
    request = body(dateRanges=[{"startDate": "5daysAgo", "endDate": "today"}], limit=100_000)
    before = {
        tuple(v["value"] for v in r["dimensionValues"]): r
        for r in (await report(sim, api, request))["rows"]
    }
    sim.revise()
    after = {
        tuple(v["value"] for v in r["dimensionValues"]): r
        for r in (await report(sim, api, request))["rows"]
    }
    assert set(before) == set(after), "a revision changes values, never rows"
    late = {(sim.today - timedelta(days=k)).strftime("%Y%m%d") for k in range(3)}
    grew = {k[0] for k in before if before[k] != after[k]}
    assert grew
    assert grew <= late
    for k in before:
        old = [int(v["value"]) for v in before[k]["metricValues"]]
        new = [int(v["value"]) for v in after[k]["metricValues"]]
        assert all(n >= o for n, o in zip(new, old, strict=True))


async def test_advance_day_moves_today(sim: Ga4Simulator, wall: Wall) -> None:
    held = make_simulator(wall_clock=wall, today=sim.world.analytics_end - timedelta(days=2))
    transport = httpx.ASGITransport(app=held)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        token = (await token_answer(http, jwt(account(), claims(wall.now)))).json()
        http.headers["Authorization"] = f"Bearer {token['access_token']}"
        request = body(
            dateRanges=[{"startDate": "today", "endDate": "today"}], dimensions=[{"name": "date"}]
        )
        first = await report(held, http, request)
        held.advance_day()
        second = await report(held, http, request)
        future = body(dateRanges=[{"startDate": "2026-11-30", "endDate": "2026-11-30"}])
        hidden = await report(held, http, future)
    assert first["rows"][0]["dimensionValues"][0]["value"] == "20261128"
    assert second["rows"][0]["dimensionValues"][0]["value"] == "20261129"
    assert "rows" not in hidden, "days after today have no data yet"


async def test_property_quota_is_reported_and_enforced_per_hour(wall: Wall) -> None:
    sim = make_simulator(wall_clock=wall, quota=PropertyQuota(tokens_per_hour=3))
    transport = httpx.ASGITransport(app=sim)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as api:
        token = (await token_answer(api, jwt(account(), claims(wall.now)))).json()
        api.headers["Authorization"] = f"Bearer {token['access_token']}"
        answers = [await report(sim, api, body(returnPropertyQuota=True)) for _ in range(3)]
        assert [a["propertyQuota"]["tokensPerHour"] for a in answers] == [
            {"consumed": 1, "remaining": 2},
            {"consumed": 2, "remaining": 1},
            {"consumed": 3, "remaining": 0},
        ]
        assert set(answers[0]["propertyQuota"]) == {
            "tokensPerDay",
            "tokensPerHour",
            "concurrentRequests",
            "serverErrorsPerProjectPerHour",
            "potentiallyThresholdedRequestsPerHour",
            "tokensPerProjectPerHour",
        }
        message = await refusal(sim, api, body(), status=429)
        assert message.startswith("RESOURCE_EXHAUSTED: Exhausted property tokens per hour")
        wall.now += 3600
        token = (await token_answer(api, jwt(account(), claims(wall.now)))).json()
        api.headers["Authorization"] = f"Bearer {token['access_token']}"
        assert (await report(sim, api, body()))["rows"]


async def test_concurrent_requests_beyond_the_limit_are_refused(wall: Wall) -> None:
    quota = PropertyQuota(concurrent_requests=2)
    sim = make_simulator(wall_clock=wall, quota=quota, report_latency_s=0.05)
    transport = httpx.ASGITransport(app=sim)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as api:
        token = (await token_answer(api, jwt(account(), claims(wall.now)))).json()
        api.headers["Authorization"] = f"Bearer {token['access_token']}"
        path = f"/v1beta/properties/{sim.property_id}:runReport"
        answers = await asyncio.gather(*(api.post(path, json=body()) for _ in range(3)))
    assert sorted(a.status_code for a in answers) == [200, 200, 429]
    refused = next(a for a in answers if a.status_code == 429)
    assert "concurrent" in refused.json()["error"]["message"]


# ----- routes, metadata, faults -------------------------------------------------------------


async def test_metadata_lists_the_propertys_fields(
    sim: Ga4Simulator, api: httpx.AsyncClient
) -> None:
    answer = (await api.get(f"/v1beta/properties/{sim.property_id}/metadata")).json()
    assert answer["name"] == f"properties/{sim.property_id}/metadata"
    dims = {d["apiName"]: d for d in answer["dimensions"]}
    assert dims["customEvent:asset_id"]["customDefinition"] is True
    metrics = {m["apiName"]: m for m in answer["metrics"]}
    assert metrics["keyEvents"]["deprecatedApiNames"] == ["conversions"]
    assert metrics["totalRevenue"]["type"] == "TYPE_CURRENCY"


async def test_unknown_routes_and_methods_answer_googles_shapes(
    sim: Ga4Simulator, api: httpx.AsyncClient
) -> None:
    missing = await api.get("/v1beta/nothing")
    assert missing.status_code == 404
    assert missing.json()["error"]["status"] == "NOT_FOUND"
    assert (await api.get(f"/v1beta/properties/{sim.property_id}:runReport")).status_code == 404
    batch = await api.post(f"/v1beta/properties/{sim.property_id}:batchRunReports", json={})
    assert batch.status_code == 501
    assert batch.json()["error"]["status"] == "UNIMPLEMENTED"
    path = f"/v1beta/properties/{sim.property_id}:runReport"
    unknown = await api.post(path, json=body(), params={"fields": "rows"})
    assert 'Unknown name "fields"' in unknown.json()["error"]["message"]
    proto = await api.post(path, json=body(), params={"$alt": "proto"})
    assert proto.status_code == 400


async def test_the_simulator_serves_under_a_mount_path(sim: Ga4Simulator, wall: Wall) -> None:
    transport = httpx.ASGITransport(app=sim, root_path="/sandbox/ga4")
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        answer = await http.post(
            "/sandbox/ga4/token",
            data={"grant_type": JWT_BEARER, "assertion": jwt(account(), claims(wall.now))},
        )
    assert answer.status_code == 200, answer.text


async def test_injected_faults_answer_in_googles_envelope(wall: Wall) -> None:
    knobs = FaultKnobs(rate_429=0.5, rate_5xx=0.5, seed=3)
    sim = make_simulator(wall_clock=wall, faults=knobs)
    transport = httpx.ASGITransport(app=sim)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        answers = [await http.get("/v1beta/nothing") for _ in range(10)]
    errors = {a.status_code: a.json()["error"] for a in answers}
    assert errors[429]["status"] == "RESOURCE_EXHAUSTED"
    assert errors[503]["status"] == "UNAVAILABLE"
    throttled = next(a for a in answers if a.status_code == 429)
    assert throttled.headers["retry-after"] == "1"


def test_connection_settings_reach_the_simulator() -> None:
    sim = make_simulator()
    settings = sim.connection_settings("http://127.0.0.1:9001/sandbox/ga4/")
    assert settings["base_url"] == "http://127.0.0.1:9001/sandbox/ga4"
    key = json.loads(settings["service_account_json"])
    assert key["token_uri"] == settings["token_url"] == "http://127.0.0.1:9001/sandbox/ga4/token"
    assert key["client_email"] == sim.sandbox_info["service_account"]
