"""The HubSpot connector against its simulator: typing, associations, search windows, limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from syncbridge_hubspot.connector import HubSpotConnector
from syncbridge_hubspot.cursor import IncrementalCursor
from syncbridge_hubspot.limits import DailyLimitReached
from syncbridge_hubspot.sim_search import SearchLimits
from syncbridge_hubspot.simulator import HubSpotSimulator

from syncbridge.connector.errors import PermanentConnectorError
from syncbridge.connector.http import create_http_client
from syncbridge.connector.ratelimit import override_time
from syncbridge.connector.testing import FakeClock, ids_of, read_all
from syncbridge.connector.types import Record, Ref
from syncbridge.jobs.retry import RetryPolicy, decide
from syncbridge.sandbox.faults import FaultKnobs

from .support import FAST_RETRY, make_simulator, settings_for


@dataclass
class Rig:
    """A simulator and a connector on one virtual clock, with the calls the connector sent."""

    sim: HubSpotSimulator
    connector: HubSpotConnector
    clock: FakeClock
    calls: list[tuple[float, str, str]] = field(default_factory=list)

    def paths(self, fragment: str = "") -> list[str]:
        return [path for _, _, path in self.calls if fragment in path]


RigFactory = Callable[..., Rig]


@pytest.fixture
async def rig() -> AsyncIterator[RigFactory]:
    clients: list[httpx.AsyncClient] = []

    def make(
        *,
        sim_options: dict[str, Any] | None = None,
        app: Callable[[ASGIApp], ASGIApp] | None = None,
        **overrides: Any,
    ) -> Rig:
        clock = FakeClock()
        sim = make_simulator(monotonic=clock, wall_clock=clock.wall, **(sim_options or {}))
        served = app(sim) if app is not None else sim
        client = create_http_client(transport=httpx.ASGITransport(app=served))
        clients.append(client)
        with override_time(clock.source):
            connector = HubSpotConnector(settings_for(sim, **overrides), client, retry=FAST_RETRY)
        made = Rig(sim, connector, clock)

        async def count(request: httpx.Request) -> None:
            made.calls.append((clock(), request.method, request.url.path))

        client.event_hooks["request"] = [count]
        return made

    yield make
    for client in clients:
        await client.aclose()


def records_of(pages: list[Any]) -> list[Record]:
    return [r for p in pages for r in p.records]


# ----- typing ---------------------------------------------------------------------------------


async def test_property_values_are_typed_by_the_properties_api(rig: RigFactory) -> None:
    r = rig()
    deals = records_of(await read_all(r.connector, "deals"))
    for deal in deals:
        assert isinstance(deal.data["amount"], int | float)
        assert isinstance(deal.data["closedate"], datetime)
        assert isinstance(deal.data["hs_is_closed_won"], bool)
        assert isinstance(deal.data["dealstage"], str)
        assert deal.updated_at == deal.data["hs_lastmodifieddate"]
    (contact, *_) = records_of(await read_all(r.connector, "contacts"))
    assert isinstance(contact.data["associatedcompanyid"], int)
    assert isinstance(contact.data["createdate"], datetime)
    campaigns = records_of(await read_all(r.connector, "campaigns"))
    assert all(isinstance(c.data["hs_start_date"], date) for c in campaigns)


async def test_the_properties_api_is_read_once_per_stream(rig: RigFactory) -> None:
    r = rig()
    await read_all(r.connector, "contacts")
    await read_all(r.connector, "contacts")
    await r.connector.fetch([Ref("contacts", sorted(r.sim.ids("contacts"))[0])])
    assert r.paths("/crm/v3/properties/") == ["/crm/v3/properties/contacts"]


# ----- associations ---------------------------------------------------------------------------


async def test_deals_take_their_links_from_the_list_answer_on_full_reads(rig: RigFactory) -> None:
    r = rig()
    deals = records_of(await read_all(r.connector, "deals"))
    assert r.paths("/crm/v4/") == []
    for deal in deals:
        links = deal.data["associations"]
        assert links["contacts"] == r.sim.crm.associated("deals", deal.external_id, "contacts")
        assert links["campaigns"] == [
            r.sim.record("deals", deal.external_id).properties["hs_campaign"]
        ]
        assert links["campaigns"][0] in r.sim.ids("campaigns")


async def test_fetch_and_incremental_reads_take_links_from_associations_v4(rig: RigFactory) -> None:
    r = rig()
    pages = await read_all(r.connector, "deals")
    ids = sorted(r.sim.ids("deals"))
    fetched = await r.connector.fetch([Ref("deals", i) for i in ids])
    assert r.paths("/crm/v4/") == ["/crm/v4/associations/deals/contacts/batch/read"]
    by_id = {d.external_id: d for d in records_of(pages)}
    assert {d.external_id: d.data for d in fetched} == {i: by_id[i].data for i in ids}
    r.sim.modify("deals", ids[3], {"amount": "99.5"})
    (changed,) = records_of(await read_all(r.connector, "deals", pages[-1].next_cursor))
    assert changed.data["amount"] == 99.5
    assert changed.data["associations"] == by_id[ids[3]].data["associations"]


async def test_a_deal_with_more_than_500_contacts_gets_them_all(rig: RigFactory) -> None:
    r = rig()
    deal = sorted(r.sim.ids("deals"))[0]
    extra = [r.sim.create("contacts", {"email": f"c{i}@example.com"}) for i in range(520)]
    r.sim.crm.associate("deals", deal, "contacts", extra)
    (record,) = await r.connector.fetch([Ref("deals", deal)])
    assert record.data["associations"]["contacts"] == r.sim.crm.associated(
        "deals", deal, "contacts"
    )
    assert len(record.data["associations"]["contacts"]) > 520
    assert len(r.paths(f"/crm/v4/objects/deals/{deal}/associations/contacts")) == 1


# ----- fetch ----------------------------------------------------------------------------------


async def test_fetch_reads_up_to_100_ids_a_call_and_leaves_out_the_unknown(rig: RigFactory) -> None:
    r = rig()
    made = [r.sim.create("contacts", {"email": f"n{i}@example.com"}) for i in range(60)]
    wanted = sorted(r.sim.ids("contacts"))
    refs = [Ref("contacts", i) for i in [*wanted, "12345678901234", "not-a-hubspot-id"]]
    got = await r.connector.fetch(refs)
    assert sorted(x.external_id for x in got) == wanted
    assert len(r.paths("/batch/read")) == 2
    assert {x.data["email"] for x in got} >= {f"n{i}@example.com" for i in range(60)}
    assert len(made) == 60


# ----- archived records -----------------------------------------------------------------------


async def test_archived_records_come_as_tombstones_at_the_end_of_a_full_read(
    rig: RigFactory,
) -> None:
    r = rig()
    gone = sorted(r.sim.ids("contacts"))[7]
    r.sim.archive("contacts", gone)
    records = records_of(await read_all(r.connector, "contacts"))
    assert records[-1].external_id == gone
    assert records[-1].deleted
    assert [x for x in records if x.deleted] == [records[-1]]
    assert await r.connector.fetch([Ref("contacts", gone)]) == []


async def test_tombstones_can_be_turned_off(rig: RigFactory) -> None:
    r = rig(include_archived=False)
    r.sim.archive("contacts", sorted(r.sim.ids("contacts"))[0])
    records = records_of(await read_all(r.connector, "contacts"))
    assert not any(x.deleted for x in records)
    assert r.paths("/crm/v3/objects/contacts").count("/crm/v3/objects/contacts") == 10


# ----- incremental reads: the search window -------------------------------------------------


async def test_an_incremental_read_moves_its_window_before_the_search_cap(rig: RigFactory) -> None:
    r = rig(
        sim_options={"search_limits": SearchLimits(result_cap=20)},
        search_result_cap=20,
        search_page_size=6,
    )
    everything = IncrementalCursor(0).encode()
    pages = await read_all(r.connector, "contacts", everything)
    ids = ids_of(pages)
    assert set(ids) == r.sim.ids("contacts")
    assert len(r.paths("/search")) >= 50 // 6
    # Only ids sharing a modification instant across a window boundary may come twice.
    twice = {i for i in ids if ids.count(i) > 1}
    stamps = [r.sim.record("contacts", i).updated_at for i in r.sim.ids("contacts")]
    assert all(stamps.count(r.sim.record("contacts", i).updated_at) > 1 for i in twice)


async def test_resuming_an_incremental_read_mid_window_gives_the_rest(rig: RigFactory) -> None:
    r = rig(
        sim_options={"search_limits": SearchLimits(result_cap=20)},
        search_result_cap=20,
        search_page_size=6,
    )
    pages = await read_all(r.connector, "contacts", IncrementalCursor(0).encode())
    for k in (1, 3, 5):
        rest = ids_of(await read_all(r.connector, "contacts", pages[k].next_cursor))
        assert set(rest) == set(ids_of(pages[k + 1 :]))


async def test_more_changes_at_one_instant_than_a_search_can_page_is_an_error(
    rig: RigFactory,
) -> None:
    r = rig(
        sim_options={"search_limits": SearchLimits(result_cap=20)},
        search_result_cap=20,
        search_page_size=6,
    )
    watermark = (await read_all(r.connector, "contacts"))[-1].next_cursor
    for contact in sorted(r.sim.ids("contacts"))[:25]:  # the clock stands still: one instant
        r.sim.modify("contacts", contact, {"lifecyclestage": "customer"})
    with pytest.raises(PermanentConnectorError, match="share one modification time"):
        await read_all(r.connector, "contacts", watermark)


async def test_an_incremental_read_from_a_full_reads_watermark_sees_later_changes(
    rig: RigFactory,
) -> None:
    r = rig()
    watermark = (await read_all(r.connector, "companies"))[-1].next_cursor
    assert ids_of(await read_all(r.connector, "companies", watermark)) == []
    company = sorted(r.sim.ids("companies"))[2]
    r.clock.advance(1)
    r.sim.modify("companies", company, {"name": "Renamed Ltd"})
    pages = await read_all(r.connector, "companies", watermark)
    (record,) = records_of(pages)
    assert record.data["name"] == "Renamed Ltd"
    assert ids_of(await read_all(r.connector, "companies", pages[-1].next_cursor)) == []


async def test_reads_say_how_many_records_they_will_give(rig: RigFactory) -> None:
    # A progress total on a read's first page: the watermark search's total for a full read
    # (no extra call), the first search's total for an incremental one.
    r = rig()
    pages = await read_all(r.connector, "contacts")
    assert len(pages) > 1
    assert pages[0].total == len(r.sim.ids("contacts"))
    assert [page.total for page in pages[1:]] == [None] * (len(pages) - 1)
    changed = sorted(r.sim.ids("contacts"))[:3]
    r.clock.advance(1)
    for contact in changed:
        r.sim.modify("contacts", contact, {"lifecyclestage": "customer"})
    again = await read_all(r.connector, "contacts", pages[-1].next_cursor)
    assert sorted(ids_of(again)) == changed
    assert again[0].total == 3


# ----- rate limits ----------------------------------------------------------------------------


async def test_searches_keep_to_the_search_limit(rig: RigFactory) -> None:
    r = rig(search_page_size=2)
    await read_all(r.connector, "deals", IncrementalCursor(0).encode())
    searches = [at for at, method, path in r.calls if method == "POST" and path.endswith("/search")]
    assert len(searches) >= 10
    assert all(b - a >= 1.0 for a, b in zip(searches, searches[4:], strict=False))
    assert r.sim.edge.calls["rate_limited"] == 0


async def test_the_burst_limit_follows_the_rate_limit_headers(rig: RigFactory) -> None:
    r = rig(sim_options={"burst_limit": 5}, rate_limit_requests=100)
    await read_all(r.connector, "contacts")
    assert r.sim.edge.calls["rate_limited"] == 0
    assert r.connector.http.limiter.max_requests == 5
    assert r.clock.now >= 10


async def test_a_daily_limit_429_fails_the_call_at_once_and_holds_the_next(
    rig: RigFactory,
) -> None:
    r = rig(sim_options={"daily_limit": 2}, daily_limit_pause_s=900)
    with pytest.raises(DailyLimitReached) as caught:
        await read_all(r.connector, "companies")
    assert caught.value.retry_after == 900
    assert len(r.calls) == 3, "no retries inside the call"
    decision = decide(caught.value, attempt=1, max_attempts=5, policy=RetryPolicy())
    assert decision.retry, "the job is retried"
    assert decision.delay_s >= 900, "after the pause"
    with pytest.raises(DailyLimitReached):
        await r.connector.fetch([Ref("companies", sorted(r.sim.ids("companies"))[0])])
    assert r.calls[-1][0] >= 900, "the next call waited for the pause"


async def test_a_rolling_window_429_holds_calls_for_a_window(rig: RigFactory) -> None:
    r = rig(sim_options={"faults": FaultKnobs(rate_429=0.5, retry_after_s=0, seed=3)})
    records = records_of(await read_all(r.connector, "companies"))
    assert {x.external_id for x in records} == r.sim.ids("companies")
    assert any(s >= 9.9 for s in r.clock.slept)


# ----- errors ---------------------------------------------------------------------------------


def truncate_second_page(app: ASGIApp) -> ASGIApp:
    """Answer the second contacts page with a cut-off body."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"")
        if (
            scope["type"] == "http"
            and scope["path"].endswith("/objects/contacts")
            and b"after=" in query
        ):

            async def cut(message: Message) -> None:
                if message["type"] == "http.response.body":
                    message = {**message, "body": message["body"][:40]}
                elif message["type"] == "http.response.start":
                    headers = [(k, v) for k, v in message["headers"] if k != b"content-length"]
                    message = {**message, "headers": headers}
                await send(message)

            await app(scope, receive, cut)
            return
        await app(scope, receive, send)

    return wrapped


async def test_a_truncated_answer_is_a_permanent_error_naming_stream_and_page(
    rig: RigFactory,
) -> None:
    r = rig(app=truncate_second_page)
    with pytest.raises(PermanentConnectorError, match=r"contacts active page after \d+"):
        await read_all(r.connector, "contacts")


async def test_unknown_streams_and_garbage_cursors_are_permanent_errors(rig: RigFactory) -> None:
    r = rig()
    with pytest.raises(PermanentConnectorError):
        await read_all(r.connector, "tickets")
    for cursor in ("garbage", '{"m": "inc", "w": -1}', '{"m": "full"}', "[1]", "x" * 20_000):
        with pytest.raises(PermanentConnectorError):
            await read_all(r.connector, "deals", cursor)


async def test_check_reports_the_account(rig: RigFactory) -> None:
    r = rig()
    result = await r.connector.check()
    assert result.ok
    assert result.account["portalId"] == r.sim.portal_id


# ----- campaigns ------------------------------------------------------------------------------


async def test_campaigns_carry_their_dam_assets_and_utm_values(rig: RigFactory) -> None:
    r = rig()
    world = r.sim.world
    for record in records_of(await read_all(r.connector, "campaigns")):
        campaign = next(c for c in world.campaigns if c.id == record.external_id)
        assets = world.campaign_assets(campaign.key)
        assert [a["id"] for a in record.data["assets"]] == [a.id for a in assets]
        for entry, asset in zip(record.data["assets"], assets, strict=True):
            assert entry["utm"]["utm_content"] == asset.id
            assert world.page_path(asset) in entry["name"]
        assert record.data["utm"]["utm_campaign"] == campaign.utm_campaign
        assert record.data["utm"]["utm_source"] == campaign.utm_source
        assert record.updated_at is not None
