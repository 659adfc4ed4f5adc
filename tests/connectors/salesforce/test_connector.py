"""The Salesforce connector against its simulator: types, cursors, tokens, limits, errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send
from syncbridge_salesforce import SalesforceConnector
from syncbridge_salesforce.cursor import MAX_SEEN, ModstampCursor
from syncbridge_salesforce.ids import canonical_id, is_id, to_18
from syncbridge_salesforce.simulator import SalesforceSimulator

from syncbridge.connector.errors import AuthError, PermanentConnectorError, RateLimited
from syncbridge.connector.ratelimit import override_time
from syncbridge.connector.testing import FakeClock, ids_of, read_all
from syncbridge.connector.types import Ref
from syncbridge.sandbox.faults import FaultKnobs

from .support import (
    BATCH_CAP,
    client_for,
    connector_for,
    jwt_key,
    jwt_overrides,
    make_simulator,
    other_key,
    pem,
)

STAMP = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def sim() -> SalesforceSimulator:
    return make_simulator()


@pytest.fixture
async def client(sim: SalesforceSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(sim) as c:
        yield c


@pytest.fixture
def connector(sim: SalesforceSimulator, client: httpx.AsyncClient) -> SalesforceConnector:
    return connector_for(sim, client)


def stamp_all(sim: SalesforceSimulator, sobject: str, ids: list[str], at: datetime) -> None:
    """Give rows one SystemModstamp, as a bulk update in one second does."""
    for record_id in ids:
        sim.org.update(sobject, record_id, SystemModstamp=at)


# ----- ids -------------------------------------------------------------------------------


def test_18_character_ids_encode_the_case_of_the_15() -> None:
    # A notification id seen in a real outbound message.
    assert to_18("04l0800002nrC5B") == "04l0800002nrC5BAAU"
    assert canonical_id("04l0800002nrC5BAAU") == "04l0800002nrC5BAAU"
    assert not is_id("04l0800002nrC5BAAA")
    assert not is_id("04l0800002nrC5")


# ----- reading ---------------------------------------------------------------------------


async def test_records_are_typed_by_the_describe(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    records = [r for p in await read_all(connector, "Opportunity") for r in p.records]
    record = next(r for r in records if r.data["IsWon"])
    row = sim.org.tables["Opportunity"].rows[record.external_id]
    assert isinstance(record.data["CloseDate"], date)
    assert record.data["CloseDate"] == row["CloseDate"]
    assert isinstance(record.data["Amount"], float)
    assert record.data["Amount"] == row["Amount"]
    assert record.data["Probability"] == 100.0
    assert record.data["IsWon"] is True
    assert record.data["CampaignId"] == row["CampaignId"]
    assert record.updated_at == row["SystemModstamp"]
    assert record.updated_at is not None
    assert record.updated_at.tzinfo is not None
    assert "attributes" not in record.data
    assert not record.deleted


async def test_every_page_cursor_resumes_exactly_after_it_through_a_block_of_ties(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    contacts = sorted(sim.org.live_ids("Contact"))
    stamp_all(sim, "Contact", contacts[5:40], STAMP)  # 35 rows, 5 batches, one second
    pages = await read_all(connector, "Contact")
    assert sorted(ids_of(pages)) == contacts
    for k, page in enumerate(pages[:-1]):
        rest = ids_of(await read_all(connector, "Contact", page.next_cursor))
        assert rest == ids_of(pages[k + 1 :]), f"after page {k}"


async def test_the_first_page_of_a_read_says_how_many_rows_the_query_holds(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    """A progress total: the query's totalSize on the read's first page, from its cursor."""
    contacts = sorted(sim.org.live_ids("Contact"))
    pages = await read_all(connector, "Contact")
    assert len(pages) > 1
    assert pages[0].total == len(contacts)
    assert [page.total for page in pages[1:]] == [None] * (len(pages) - 1)
    sim.org.update("Contact", contacts[0], LastName="Moved", SystemModstamp=STAMP)
    again = await read_all(connector, "Contact", pages[-1].next_cursor)
    assert ids_of(again) == [contacts[0]]
    # The >= boundary re-reads the rows of the watermark second, which the cursor drops.
    assert again[0].total is not None
    assert again[0].total >= 1


async def test_a_row_reaching_the_boundary_second_later_is_read_and_nothing_else(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    # The last rows of a read share the boundary second; another row is written at that
    # same second after the read (a strict ">" would never see it).
    members = sorted(sim.org.live_ids("CampaignMember"))
    stamp_all(sim, "CampaignMember", members[-3:], STAMP)
    watermark = (await read_all(connector, "CampaignMember"))[-1].next_cursor
    sim.org.update("CampaignMember", members[0], Status="Responded", SystemModstamp=STAMP)
    again = await read_all(connector, "CampaignMember", watermark)
    assert ids_of(again) == [members[0]]
    assert ids_of(await read_all(connector, "CampaignMember", again[-1].next_cursor)) == []


async def test_a_tie_block_larger_than_the_cursor_keeps_is_walked_by_id(
    client: httpx.AsyncClient,
) -> None:
    sim = make_simulator(assets=40, batch_cap=2000)
    sim.org.clock = lambda: STAMP
    extra = [sim.org.insert("Contact", LastName=f"Bulk {i}") for i in range(MAX_SEEN + 150)]
    async with client_for(sim) as local:
        connector = connector_for(sim, local, page_size=200)
        pages = await read_all(connector, "Contact")
        assert len(ids_of(pages)) == len(set(ids_of(pages))) == len(extra) + 10
        last = ModstampCursor.decode(pages[-1].next_cursor)
        assert last.after is not None
        assert len(last.seen) < MAX_SEEN
        for k in (len(pages) // 2, len(pages) - 2):
            rest = ids_of(await read_all(connector, "Contact", pages[k].next_cursor))
            assert rest == ids_of(pages[k + 1 :])
        assert ids_of(await read_all(connector, "Contact", pages[-1].next_cursor)) == []
    assert client is not None


async def test_deleted_rows_come_back_as_tombstones_and_fetch_leaves_them_out(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    watermark = (await read_all(connector, "Campaign"))[-1].next_cursor
    gone = sorted(sim.org.live_ids("Campaign"))[2]
    sim.org.delete("Campaign", gone)
    records = [r for p in await read_all(connector, "Campaign", watermark) for r in p.records]
    assert [(r.external_id, r.deleted) for r in records] == [(gone, True)]
    assert await connector.fetch([Ref("Campaign", gone)]) == []


async def test_fetch_answers_known_ids_in_one_call_per_stream(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    campaigns = sorted(sim.org.live_ids("Campaign"))[:3]
    contact = sorted(sim.org.live_ids("Contact"))[0]
    refs = [Ref("Campaign", i) for i in campaigns] + [
        Ref("Contact", contact),
        Ref("Contact", campaigns[0]),  # a Campaign id asked for as a Contact
        Ref("Contact", "not-an-id"),
        Ref("Campaign", to_18("701Hs0000099999")),
    ]
    before = sim.requests
    records = await connector.fetch(refs)
    assert sorted((r.stream, r.external_id) for r in records) == sorted(
        [("Campaign", i) for i in campaigns] + [("Contact", contact)]
    )
    assert sim.requests - before <= 2 + 2 + 1  # describes, retrieves, the token


async def test_fetch_types_records_as_the_read_does(connector: SalesforceConnector) -> None:
    read = {r.external_id: r for p in await read_all(connector, "Opportunity") for r in p.records}
    some = sorted(read)[:5]
    fetched = await connector.fetch([Ref("Opportunity", i) for i in some])
    assert sorted(fetched, key=lambda r: r.external_id) == [read[i] for i in some]
    assert all(isinstance(r.data["CloseDate"], date) for r in fetched)


async def test_a_field_the_org_lacks_is_named_before_any_query(
    sim: SalesforceSimulator, client: httpx.AsyncClient
) -> None:
    connector = connector_for(sim, client, contact_fields=["Email", "Nope__c"])
    with pytest.raises(PermanentConnectorError, match=r"Contact has no field Nope__c"):
        await read_all(connector, "Contact")
    assert sim.queries.queries == 0


async def test_an_expired_query_locator_restarts_the_query_where_the_read_is(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    expected = sorted(sim.org.live_ids("Contact"))
    seen: list[str] = []
    async for page in connector.read("Contact", None):
        seen += [r.external_id for r in page.records]
        sim.queries.expire_all()
    assert sorted(seen) == expected
    assert len(seen) == len(expected)
    assert sim.queries.queries > 2


async def test_a_garbage_page_is_permanent_and_names_stream_and_page(
    sim: SalesforceSimulator,
) -> None:
    async with client_for(TruncateNextPage(sim)) as client:
        connector = connector_for(sim, client)
        with pytest.raises(PermanentConnectorError, match=r"Opportunity page 2"):
            await read_all(connector, "Opportunity")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda rows: rows[1].update(Email=42), r"Contact page 2: .*Email: not text: 42"),
        (lambda rows: rows[1].update(SystemModstamp=None), r"Contact page 2: .*no Id or Sys"),
        (lambda rows: rows[0].update(Id="003' OR Id != '"), r"Contact page 2: .*no Id"),
        (lambda rows: rows.reverse(), r"Contact page 2: .*not in SystemModstamp, Id order"),
        (lambda rows: rows[0].pop("LastName"), r"Contact page 2: .*LastName is missing"),
    ],
)
async def test_a_page_with_a_bad_record_is_permanent_and_named(
    sim: SalesforceSimulator, change: Callable[[list[dict[str, Any]]], object], message: str
) -> None:
    async with client_for(RewriteSecondPage(sim, change)) as client:
        connector = connector_for(sim, client)
        with pytest.raises(PermanentConnectorError, match=message):
            await read_all(connector, "Contact")


async def test_an_unknown_stream_is_refused(connector: SalesforceConnector) -> None:
    with pytest.raises(PermanentConnectorError):
        await read_all(connector, "Lead")
    with pytest.raises(PermanentConnectorError):
        await read_all(connector, "Contact", "not a cursor")


class TruncateNextPage:
    """Vendor-edge fault: every ``nextRecordsUrl`` answer loses its second half."""

    def __init__(self, app: SalesforceSimulator) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if "/query/" not in scope.get("path", "") and "/queryAll/" not in scope.get("path", ""):
            await self.app(scope, receive, send)
            return

        async def cut(message: Message) -> None:
            if message["type"] == "http.response.body":
                body = message.get("body", b"")
                message = {**message, "body": body[: len(body) // 2]}
            elif message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message["headers"] if k != b"content-length"]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, cut)


class RewriteSecondPage:
    """Vendor-edge fault: the records of the second page of a query are rewritten."""

    def __init__(
        self, app: SalesforceSimulator, change: Callable[[list[dict[str, Any]]], object]
    ) -> None:
        self.app = app
        self.change = change

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if not path.endswith("-" + str(BATCH_CAP)):
            await self.app(scope, receive, send)
            return
        start: Message = {}

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            body = json.loads(message["body"])
            self.change(body["records"])
            content = json.dumps(body).encode()
            headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
            headers.append((b"content-length", str(len(content)).encode()))
            await send({**start, "headers": headers})
            await send({**message, "body": content, "more_body": False})

        await self.app(scope, receive, rewrite)


# ----- tokens ----------------------------------------------------------------------------


async def test_an_expired_session_is_refreshed_once_and_the_read_goes_on(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    expected = sorted(sim.org.live_ids("Contact"))
    seen: list[str] = []
    async for page in connector.read("Contact", None):
        seen += [r.external_id for r in page.records]
        sim.expire_sessions()
    assert sorted(seen) == expected
    token = connector.api.tokens.current
    assert token is not None
    assert token.generation > 1


async def test_a_token_refused_right_after_refresh_is_an_auth_error(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    sim.sessions.timeout_s = -1.0  # every session has lapsed as soon as it is issued
    with pytest.raises(AuthError, match="INVALID_SESSION_ID"):
        await read_all(connector, "Campaign")
    token = connector.api.tokens.current
    assert token is not None
    assert token.generation == 2


async def test_the_jwt_bearer_flow_signs_in(
    sim: SalesforceSimulator, client: httpx.AsyncClient
) -> None:
    connector = connector_for(sim, client, **jwt_overrides())
    result = await connector.check()
    assert result.ok, result.detail
    assert result.account["organization_id"] == sim.organization_id
    assert ids_of(await read_all(connector, "Campaign"))


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"private_key": pem(other_key())}, "invalid assertion"),
        ({"username": "someone@else.example"}, "approved"),
        ({"jwt_audience": "https://evil.example"}, "audience"),
        ({"client_id": "3MVG9unknown"}, "invalid_client_id"),
    ],
)
async def test_refused_jwt_assertions_are_auth_errors(
    sim: SalesforceSimulator, client: httpx.AsyncClient, overrides: dict[str, Any], reason: str
) -> None:
    connector = connector_for(sim, client, **jwt_overrides(**overrides))
    with pytest.raises(AuthError, match=reason):
        await connector.check()
    assert jwt_key() is not other_key()


async def test_wrong_client_credentials_are_an_auth_error_without_the_secret(
    sim: SalesforceSimulator, client: httpx.AsyncClient
) -> None:
    connector = connector_for(sim, client, client_secret="wrong-secret-value")
    with pytest.raises(AuthError) as caught:
        await read_all(connector, "Contact")
    assert "invalid_client" in str(caught.value)
    assert "wrong-secret-value" not in str(caught.value)


async def test_check_reports_the_org_and_refuses_credentials_of_another_org(
    sim: SalesforceSimulator, client: httpx.AsyncClient
) -> None:
    ok = await connector_for(sim, client).check()
    assert ok.ok
    assert ok.account["daily_api_requests"]["Max"] == sim.allocation.limit
    other = await connector_for(sim, client, organization_id="00DHs0000000XyZMAU").check()
    assert not other.ok
    assert "another org" in other.detail


async def test_check_of_a_version_the_org_does_not_serve_is_not_ok(
    sim: SalesforceSimulator, client: httpx.AsyncClient
) -> None:
    result = await connector_for(sim, client, api_version="v99.0").check()
    assert not result.ok
    assert "NOT_FOUND" in result.detail


# ----- API allocation ----------------------------------------------------------------------


async def test_request_limit_exceeded_waits_and_sends_nothing_meanwhile() -> None:
    sim = make_simulator(daily_api_limit=3)
    clock = FakeClock()
    async with client_for(sim) as client:
        with override_time(clock.source):
            connector = connector_for(sim, client, request_limit_wait_s=600)
        with pytest.raises(RateLimited) as caught:
            await read_all(connector, "Contact")
        assert caught.value.retry_after == 600
        sent = sim.requests
        with pytest.raises(RateLimited):
            await read_all(connector, "Contact")
        assert sim.requests == sent, "no call while the allocation is exhausted"
        clock.advance(601)
        sim.allocation.limit = 1000
        assert ids_of(await read_all(connector, "Contact"))


async def test_the_connection_stops_at_its_share_of_the_allocation() -> None:
    sim = make_simulator(daily_api_limit=100)
    async with client_for(sim) as client:
        connector = connector_for(sim, client, api_usage_max_share=0.05)
        with pytest.raises(RateLimited, match="5 of the org's 100"):
            await read_all_streams(connector)
    assert sim.allocation.used == 5


async def read_all_streams(connector: SalesforceConnector) -> None:
    for spec in connector.streams():
        await read_all(connector, spec.name)


async def test_api_usage_is_tracked_from_every_answer(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    await read_all(connector, "Campaign")
    usage = connector.api.usage
    assert usage is not None
    assert (usage.used, usage.total) == (sim.allocation.used, sim.allocation.limit)


async def test_a_storm_of_429s_waits_and_completes() -> None:
    sim = make_simulator(faults=FaultKnobs(rate_429=0.4, retry_after_s=2, seed=3))
    clock = FakeClock()
    async with client_for(sim) as client:
        with override_time(clock.source):
            connector = connector_for(sim, client)
        pages = await read_all(connector, "Contact")
    assert sorted(ids_of(pages)) == sorted(sim.org.live_ids("Contact"))
    assert sim.fault_middleware is not None
    assert sim.fault_middleware.injected["429"] > 0
    # Each 429 held the connection for its Retry-After (backoff sleeps count towards it).
    assert clock.now >= 2 * sim.fault_middleware.injected["429"] * 0.99


def test_the_query_is_the_documented_incremental_form() -> None:
    cursor = ModstampCursor(STAMP, ["003Hs0000000001IAA"])
    assert cursor.where() == " WHERE SystemModstamp >= 2026-11-30T12:00:00Z"
    cursor.after = "003Hs0000000009IAA"
    assert cursor.where() == (
        " WHERE (SystemModstamp = 2026-11-30T12:00:00Z AND Id > '003Hs0000000009IAA')"
        " OR SystemModstamp > 2026-11-30T12:00:00Z"
    )
    assert ModstampCursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize(
    "raw",
    [
        '{"v":1,"ts":null,"ids":["003Hs0000000001IAA"],"after":null}',
        '{"v":1,"ts":"2026-01-01T00:00:00+00:00","ids":["x\' OR Id != \'"],"after":null}',
        '{"v":1,"ts":"2026-01-01T00:00:00+00:00","ids":[],"after":"1\' OR \'1\'=\'1"}',
        '{"v":2,"ts":null,"ids":[],"after":null}',
        "[]",
        json.dumps({"v": 1, "ts": "2026-01-01T00:00:00", "ids": [], "after": None}),
    ],
)
def test_a_forged_cursor_is_refused(raw: str) -> None:
    with pytest.raises(PermanentConnectorError):
        ModstampCursor.decode(raw)


def test_rows_before_the_boundary_and_seen_rows_are_not_admitted() -> None:
    cursor = ModstampCursor(STAMP, ["003Hs0000000002IAA"])
    assert not cursor.admit(STAMP - timedelta(seconds=1), "003Hs0000000001IAA")
    assert not cursor.admit(STAMP, "003Hs0000000002IAA")
    assert cursor.admit(STAMP, "003Hs0000000001IAA")
    assert cursor.admit(STAMP + timedelta(seconds=1), "003Hs0000000001IAA")
    assert cursor.seen == ["003Hs0000000001IAA"]
