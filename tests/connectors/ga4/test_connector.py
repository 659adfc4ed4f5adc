"""The GA4 connector against its simulator: records, paging, late data, tokens, quotas, errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send
from syncbridge_ga4.connector import Ga4Connector
from syncbridge_ga4.report import id_day
from syncbridge_ga4.sim_quota import PropertyQuota
from syncbridge_ga4.simulator import Ga4Simulator

from syncbridge.connector.errors import AuthError, PermanentConnectorError, RateLimited
from syncbridge.connector.ratelimit import override_time
from syncbridge.connector.testing import FakeClock, ids_of, read_all
from syncbridge.connector.types import Page, Ref, TagChange

from .support import (
    STREAM,
    client_for,
    connector_for,
    expected_records,
    last_days,
    make_simulator,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def clients() -> AsyncIterator[list[httpx.AsyncClient]]:
    made: list[httpx.AsyncClient] = []
    yield made
    for client in made:
        await client.aclose()


Make = Callable[..., Ga4Connector]
Simulate = Callable[..., Ga4Simulator]


@pytest.fixture
def simulate(clock: FakeClock) -> Simulate:
    """A fresh simulator whose wall clock is the test's virtual one (JWT times, quota hours)."""

    def build(**options: Any) -> Ga4Simulator:
        return make_simulator(wall_clock=clock.wall, **options)

    return build


@pytest.fixture
def make(clock: FakeClock, clients: list[httpx.AsyncClient]) -> Make:
    """A connector for a simulator (or an app in front of it), on virtual time."""

    def build(sim: Ga4Simulator, app: Any = None, **overrides: Any) -> Ga4Connector:
        client = client_for(app or sim)
        clients.append(client)
        with override_time(clock.source):
            return connector_for(sim, client, **overrides)

    return build


def records(pages: list[Page]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for page in pages:
        for record in page.records:
            assert record.external_id not in out, record.external_id
            out[record.external_id] = dict(record.data)
    return out


# ----- reading ------------------------------------------------------------------------------


async def test_a_full_read_is_every_row_of_the_window_typed(make: Make, simulate: Simulate) -> None:
    sim = simulate()
    pages = await read_all(make(sim), STREAM)
    got = records(pages)
    assert got == expected_records(sim)
    assert len(got) > 2000
    sample = next(iter(got.values()))
    assert isinstance(sample["screenPageViews"], int)
    assert isinstance(sample["totalRevenue"], Decimal)
    assert sample["date"] == next(iter(got))[:10]
    assert pages[-1].next_cursor == f"after:{sim.world.analytics_end.isoformat()}"


async def test_every_page_cursor_resumes_exactly_after_it(make: Make, simulate: Simulate) -> None:
    sim = simulate()
    connector = make(sim, page_size=7, start_date=5)
    pages = await read_all(connector, STREAM)
    assert len(pages) > 10
    for k in range(len(pages) - 1):
        cursor = pages[k].next_cursor
        assert cursor is not None
        assert cursor.startswith("at:")
        assert ids_of(await read_all(connector, STREAM, cursor)) == ids_of(pages[k + 1 :])


async def test_the_first_page_of_a_read_says_how_many_rows_it_will_give(
    make: Make, simulate: Simulate
) -> None:
    # A progress total: the first answer's rowCount, less the rows a resumed read skips.
    sim = simulate()
    connector = make(sim, page_size=7, start_date=5)
    pages = await read_all(connector, STREAM)
    assert len(pages) > 3
    assert pages[0].total == len(ids_of(pages))
    assert [page.total for page in pages[1:]] == [None] * (len(pages) - 1)
    resumed = await read_all(connector, STREAM, pages[1].next_cursor)
    assert resumed[0].total is not None
    assert resumed[0].total >= len(ids_of(resumed))


async def test_an_incremental_read_replaces_the_late_days_and_adds_nothing(
    make: Make, simulate: Simulate
) -> None:
    sim = simulate()
    connector = make(sim, lookback_days=3)
    first = records(await read_all(connector, STREAM))
    sim.revise()
    window = last_days(sim, 4)
    again = await read_all(connector, STREAM, f"after:{sim.today.isoformat()}")
    reread = records(again)
    assert set(reread) <= set(first), "a re-read must reuse the ids it gave before"
    assert {id_day(i) for i in reread} == set(window)
    assert reread == expected_records(sim, days=window)
    changed = [i for i in reread if reread[i] != first[i]]
    assert changed, "the revision grew some late rows"
    assert all(id_day(i) in window[-3:] for i in changed)
    assert again[-1].next_cursor == f"after:{sim.today.isoformat()}"


async def test_a_new_day_comes_in_with_the_look_back(make: Make, simulate: Simulate) -> None:
    sim = simulate(today=make_simulator().world.analytics_end - timedelta(days=1))
    connector = make(sim, lookback_days=1)
    pages = await read_all(connector, STREAM)
    assert pages[-1].next_cursor == f"after:{sim.today.isoformat()}"
    new_day = sim.advance_day()
    again = records(await read_all(connector, STREAM, pages[-1].next_cursor))
    assert {id_day(i) for i in again} == set(last_days(sim, 3))
    assert again == expected_records(sim, days=last_days(sim, 3))
    assert any(id_day(i) == new_day for i in again)


async def test_a_report_without_asset_dimensions_sums_over_them(
    make: Make, simulate: Simulate
) -> None:
    sim = simulate()
    dims = ["date", "sessionCampaignName"]
    metrics = ["screenPageViews", "totalRevenue"]
    report = {"dimensions": dims, "metrics": metrics}
    got = records(await read_all(make(sim, reports={"campaigns": report}), "campaigns"))
    want = expected_records(sim, dimensions=dims, metrics=metrics, stream="campaigns")
    assert got == want
    assert len(got) < len(expected_records(sim)) / 5


async def test_a_dimension_filter_narrows_the_rows(make: Make, simulate: Simulate) -> None:
    sim = simulate()
    dims = ["date", "pagePath", "sessionCampaignName", "sessionSourceMedium"]
    medium = {"stringFilter": {"matchType": "ENDS_WITH", "value": "/ EMAIL"}}
    report = {
        "dimensions": dims,
        "metrics": ["sessions"],
        "dimension_filter": {"filter": {"fieldName": "sessionSourceMedium", **medium}},
    }
    got = records(await read_all(make(sim, reports={"email": report}), "email"))
    want = {
        i: data
        for i, data in expected_records(
            sim, dimensions=dims, metrics=["sessions"], stream="email"
        ).items()
        if data["sessionSourceMedium"].endswith("/ email")
    }
    assert got == want
    assert got


async def test_fetch_re_reads_the_days_of_the_ids(make: Make, simulate: Simulate) -> None:
    sim = simulate()
    connector = make(sim, page_size=5)
    expected = expected_records(sim)
    wanted = sorted(expected)[::400]
    forged = f"{wanted[0][:10]}:{'0' * 32}"
    refs = [Ref(STREAM, i) for i in [*wanted, forged, "not-an-id", "1999-01-01:" + "a" * 32]]
    fetched = await connector.fetch(refs)
    assert [r.external_id for r in fetched] == wanted
    assert all(dict(r.data) == expected[r.external_id] for r in fetched)


async def test_an_unknown_stream_or_cursor_is_refused(make: Make, simulate: Simulate) -> None:
    connector = make(simulate())
    with pytest.raises(PermanentConnectorError, match="no stream"):
        await read_all(connector, "nope")
    with pytest.raises(PermanentConnectorError, match="not a read cursor"):
        await read_all(connector, STREAM, "page:3")


async def test_ga4_is_read_only(make: Make, simulate: Simulate) -> None:
    connector = make(simulate())
    (outcome,) = await connector.write([TagChange(STREAM, "x", frozenset({"perf:top"}))])
    assert outcome.status == "failed"


# ----- credentials --------------------------------------------------------------------------


async def test_one_token_serves_a_whole_read(make: Make, simulate: Simulate) -> None:
    sim = simulate()
    connector = make(sim, page_size=50)
    pages = await read_all(connector, STREAM)
    assert len(pages) > 40
    assert sim.issuer.exchanges == 1 == connector.tokens.exchanges


async def test_an_expired_token_is_exchanged_again_once(make: Make, simulate: Simulate) -> None:
    sim = simulate()
    connector = make(sim, start_date=1)
    await read_all(connector, STREAM)
    sim.expire_tokens()
    assert ids_of(await read_all(connector, STREAM))
    assert sim.issuer.exchanges == 2


async def test_concurrent_first_calls_share_one_exchange(make: Make, simulate: Simulate) -> None:
    sim = simulate()
    connector = make(sim)
    tokens = await asyncio.gather(*(connector.tokens.get() for _ in range(3)))
    assert len(set(tokens)) == 1
    assert await connector.tokens.get() == tokens[0], "a valid token is handed out again"
    assert sim.issuer.exchanges == 1 == connector.tokens.exchanges


async def test_check_names_the_property_and_account(make: Make, simulate: Simulate) -> None:
    sim = simulate()
    result = await make(sim).check()
    assert result.ok, result.detail
    assert result.account == {
        "property_id": sim.property_id,
        "service_account": sim.account.client_email,
    }


async def test_check_names_report_fields_the_property_does_not_know(
    make: Make, simulate: Simulate
) -> None:
    report = {"dimensions": ["date", "customEvent:campaign_asset"], "metrics": ["sessions"]}
    result = await make(simulate(), reports={"x": report}).check()
    assert not result.ok
    assert "x: customEvent:campaign_asset" in result.detail


async def test_another_property_is_an_auth_error(make: Make, simulate: Simulate) -> None:
    connector = make(simulate(), property_id="1")
    with pytest.raises(AuthError, match="PERMISSION_DENIED"):
        await connector.check()
    with pytest.raises(AuthError):
        await read_all(connector, STREAM)


async def test_an_invalid_report_is_a_permanent_error_with_googles_reason(
    make: Make, simulate: Simulate
) -> None:
    report = {"dimensions": ["date", "pageTitle"], "metrics": ["sessions"]}
    connector = make(simulate(), reports={"x": report})
    with pytest.raises(PermanentConnectorError) as caught:
        await read_all(connector, "x")
    assert not isinstance(caught.value, AuthError)
    assert "INVALID_ARGUMENT" in str(caught.value)
    assert "pageTitle is not a valid dimension" in str(caught.value)
    assert "stream 'x', page at " in str(caught.value), "the refusal names stream and page"


# ----- quotas -------------------------------------------------------------------------------


async def test_exhausted_hourly_tokens_are_waited_for(
    make: Make, clock: FakeClock, simulate: Simulate
) -> None:
    sim = simulate(quota=PropertyQuota(tokens_per_hour=4))
    connector = make(sim, page_size=100)
    pages = await read_all(connector, STREAM)
    assert records(pages) == expected_records(sim)
    assert len(pages) > 20
    # The answers' propertyQuota said when the hour's tokens were spent, so the connector
    # waited for the next hour before being refused: about 1 h of virtual time per 4 pages.
    assert sim.quota.refused == 0
    assert clock.now >= 3600 * (len(pages) // 4 - 1)
    assert max(clock.slept) <= 3600 + 10


async def test_concurrent_request_refusals_are_waited_for(
    make: Make, clock: FakeClock, simulate: Simulate
) -> None:
    quota = PropertyQuota(concurrent_requests=1)
    sim = simulate(quota=quota, report_latency_s=0.01)
    first, second = make(sim, start_date=2), make(sim, start_date=2)
    a, b = await asyncio.gather(read_all(first, STREAM), read_all(second, STREAM))
    assert ids_of(a) == ids_of(b)
    assert set(ids_of(a)) == set(expected_records(sim, days=last_days(sim, 3)))
    assert quota.refused >= 1
    assert 2.0 in clock.slept, "a refused call waited quota_concurrency_wait_s"


async def test_a_refusal_for_hourly_tokens_waits_for_the_next_hour(
    make: Make, clock: FakeClock, simulate: Simulate
) -> None:
    # Another client of the property spends the tokens: this one learns it from a 429.
    sim = simulate(quota=PropertyQuota(tokens_per_hour=6))
    sim.quota.charge(6)
    connector = make(sim, start_date=1)
    pages = await read_all(connector, STREAM)
    assert records(pages) == expected_records(sim, days=last_days(sim, 2))
    assert sim.quota.refused == 1
    assert 3600 - 10 <= clock.now <= 3600 + 10


async def test_exhausted_daily_tokens_hand_back_a_wait(
    make: Make, clock: FakeClock, simulate: Simulate
) -> None:
    sim = simulate(quota=PropertyQuota(tokens_per_day=2))
    connector = make(sim, page_size=100)
    with pytest.raises(RateLimited) as caught:
        await read_all(connector, STREAM)
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 86_400 + 10
    assert clock.now < 60, "a daily quota is not waited for inline"


async def test_a_quota_that_never_returns_gives_up_after_the_max_wait(
    make: Make, clock: FakeClock, simulate: Simulate
) -> None:
    sim = simulate(quota=PropertyQuota(tokens_per_hour=0))
    connector = make(sim, quota_max_wait_s=7200)
    with pytest.raises(RateLimited):
        await read_all(connector, STREAM)
    # It waited for the hour to turn once, then gave up: the next wait would pass 2 h.
    assert 3600 <= clock.now <= 7200
    assert sim.quota.refused == 2


# ----- what the vendor answers --------------------------------------------------------------


Rewrite = Callable[[dict[str, Any]], bytes]


class Tamper:
    """An ASGI app in front of the simulator that rewrites runReport answers."""

    def __init__(self, sim: Ga4Simulator, rewrite: Rewrite) -> None:
        self.sim = sim
        self.rewrite = rewrite

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not scope["path"].endswith(":runReport"):
            await self.sim(scope, receive, send)
            return
        sent: list[Message] = []

        async def keep(message: Message) -> None:
            sent.append(message)

        await self.sim(scope, receive, keep)
        start, *bodies = sent
        if start["status"] != 200:
            for message in sent:
                await send(message)
            return
        body = self.rewrite(json.loads(b"".join(m.get("body", b"") for m in bodies)))
        headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _truncated(answer: dict[str, Any]) -> bytes:
    return json.dumps(answer).encode()[:-40]


def _reversed(answer: dict[str, Any]) -> bytes:
    return json.dumps({**answer, "rows": answer.get("rows", [])[::-1]}).encode()


def _not_a_number(answer: dict[str, Any]) -> bytes:
    answer["rows"][0]["metricValues"][0]["value"] = "12 views"
    return json.dumps(answer).encode()


def _headers_swapped(answer: dict[str, Any]) -> bytes:
    answer["dimensionHeaders"] = answer["dimensionHeaders"][::-1]
    return json.dumps(answer).encode()


@pytest.mark.parametrize(
    ("rewrite", "reason"),
    [
        (_truncated, "not JSON"),
        (_reversed, "not ordered by date"),
        (_not_a_number, "not a runReport response"),
        (_headers_swapped, "dimension headers"),
    ],
)
async def test_a_bad_answer_is_a_permanent_error_naming_stream_and_page(
    make: Make, rewrite: Rewrite, reason: str, simulate: Simulate
) -> None:
    sim = simulate()
    connector = make(sim, Tamper(sim, rewrite))
    with pytest.raises(PermanentConnectorError, match=reason) as caught:
        await read_all(connector, STREAM)
    assert "stream 'asset_performance', page at 90daysAgo+0" in str(caught.value)


async def test_metric_types_come_from_the_headers(make: Make, simulate: Simulate) -> None:
    def as_floats(answer: dict[str, Any]) -> bytes:
        for header in answer["metricHeaders"]:
            header["type"] = "TYPE_FLOAT" if header["name"] == "keyEvents" else header["type"]
        for row in answer.get("rows", []):
            row["metricValues"][3]["value"] += ".5"
        return json.dumps(answer).encode()

    sim = simulate()
    got = records(await read_all(make(sim, Tamper(sim, as_floats), start_date=1), STREAM))
    assert got
    assert all(
        isinstance(d["keyEvents"], float) and d["keyEvents"] % 1 == 0.5 for d in got.values()
    )


async def test_a_truncated_stream_read_never_yields_a_partial_page(
    make: Make, simulate: Simulate
) -> None:
    sim = simulate()
    seen: list[Page] = []
    connector = make(sim, Tamper(sim, _truncated))

    async def consume(read: AsyncIterator[Page]) -> None:
        async for page in read:
            seen.append(page)

    run: Awaitable[None] = consume(connector.read(STREAM, None))
    with pytest.raises(PermanentConnectorError):
        await run
    assert seen == []
