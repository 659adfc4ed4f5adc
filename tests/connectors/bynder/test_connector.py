"""The Bynder connector against its simulator: cursors, fetch, write-back, webhooks, errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from syncbridge_bynder import BynderConnector
from syncbridge_bynder.media_cursor import SEEN_LIMIT, MediaCursor
from syncbridge_bynder.sim_params import iso, parse_iso
from syncbridge_bynder.simulator import BynderSimulator

from syncbridge.connector.errors import (
    AuthError,
    InvalidWebhook,
    PermanentConnectorError,
    TransientConnectorError,
)
from syncbridge.connector.http import create_http_client
from syncbridge.connector.ratelimit import override_time
from syncbridge.connector.testing import FakeClock, ids_of, read_all
from syncbridge.connector.types import Ref, TagChange
from syncbridge.sandbox.faults import FaultKnobs

from .support import PORTAL, client_for, connector_for, make_simulator


@pytest.fixture(params=[True, False], ids=["inclusive", "exclusive"])
def sim(request: pytest.FixtureRequest) -> BynderSimulator:
    """The portal, with ``dateModified=T`` keeping media at exactly ``T`` or not: Bynder does
    not say which, and the connector must read the same either way."""
    inclusive: bool = request.param
    return make_simulator(inclusive_date_filters=inclusive)


@pytest.fixture
async def client(sim: BynderSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(sim) as c:
        yield c


@pytest.fixture
def connector(sim: BynderSimulator, client: httpx.AsyncClient) -> BynderConnector:
    return connector_for(sim, client)


def stamp_all(sim: BynderSimulator, stamp: str, ids: list[str] | None = None) -> None:
    """Give media one dateModified (a bulk import in one second)."""
    for media_id in ids if ids is not None else list(sim.portal.media):
        sim.portal.edit(media_id, dateModified=stamp)


def human(sim: BynderSimulator, media_id: str) -> set[str]:
    return {t for t in sim.media(media_id)["tags"] if not t.startswith("perf:")}


# ----- reading media -----------------------------------------------------------------------


async def test_read_lists_media_oldest_change_first(
    sim: BynderSimulator, connector: BynderConnector
) -> None:
    pages = await read_all(connector, "media")
    records = [r for p in pages for r in p.records]
    assert sorted(r.external_id for r in records) == sorted(sim.portal.media)
    stamps = [r.data["dateModified"] for r in records]
    assert stamps == sorted(stamps)
    assert all(r.updated_at is not None for r in records)


async def test_the_first_page_of_a_read_says_how_many_media_it_will_give(
    sim: BynderSimulator, connector: BynderConnector
) -> None:
    """A progress total: ``count.total`` of the read's first page (asked with ``count=1``)."""
    pages = await read_all(connector, "media")
    assert len(pages) > 1
    assert pages[0].total == len(sim.portal.media)
    assert [page.total for page in pages[1:]] == [None] * (len(pages) - 1)
    changed = sorted(sim.portal.media)[3]
    sim.edit_tags(changed, ["edited"])
    again = await read_all(connector, "media", pages[-1].next_cursor)
    assert ids_of(again) == [changed]
    # From the watermark: the media changed since (and those of the watermark's second).
    assert again[0].total is not None
    assert 1 <= again[0].total < len(sim.portal.media)


@pytest.mark.parametrize("tied", [25, 57])
async def test_ties_longer_than_a_page_are_read_once_and_resume_exactly(
    sim: BynderSimulator, connector: BynderConnector, tied: int
) -> None:
    ordered = sorted(sim.portal.media.values(), key=lambda m: (m["dateModified"], m["id"]))
    stamp_all(sim, "2026-06-01T00:00:00Z", [m["id"] for m in ordered[:tied]])
    pages = await read_all(connector, "media")
    ids = ids_of(pages)
    assert sorted(ids) == sorted(sim.portal.media)
    for k in range(len(pages) - 1):
        rest = ids_of(await read_all(connector, "media", pages[k].next_cursor))
        assert rest == ids_of(pages[k + 1 :]), k


async def test_media_changed_during_a_read_is_not_skipped(
    sim: BynderSimulator, connector: BynderConnector
) -> None:
    pages = connector.read("media", None)
    first = await anext(pages)
    read_first = [r.external_id for r in first.records]
    # A person edits an asset already read and one not read yet: both jump to the end.
    ordered = sorted(sim.portal.media.values(), key=lambda m: (m["dateModified"], m["id"]))
    later = ordered[30]["id"]
    sim.edit_tags(read_first[0], ["edited"])
    sim.edit_tags(later, ["edited"])
    rest = [r for page in [p async for p in pages] for r in page.records]
    seen = read_first + [r.external_id for r in rest]
    assert set(seen) == set(sim.portal.media)
    assert {r.external_id for r in rest if r.data["tags"] == ["edited"]} == {read_first[0], later}


@pytest.mark.parametrize("pages_before_edit", [3, 9])
async def test_media_changed_during_a_tie_block_walk_is_not_skipped(
    sim: BynderSimulator, connector: BynderConnector, pages_before_edit: int
) -> None:
    # A bulk import: every medium shares one second, so the block is walked page by page.
    stamp_all(sim, "2020-01-01T00:00:00Z")
    block = sorted(sim.portal.media)
    pages = connector.read("media", None)
    # 3 pages: into the first walk of the block; 9: into the walk that checks the first.
    got = [r.external_id for _ in range(pages_before_edit) for r in (await anext(pages)).records]
    # A person edits a medium from the block's first page: it leaves the block, and every
    # medium after it shifts one place left across the page boundary being walked.
    sim.edit_tags(block[0], ["edited"])
    got += [r.external_id for page in [p async for p in pages] for r in page.records]
    assert set(got) == set(sim.portal.media)
    assert sorted(got) == sorted([*sim.portal.media, block[0]])


async def test_ties_at_a_page_boundary_are_never_lost(
    sim: BynderSimulator, connector: BynderConnector
) -> None:
    # Seven media share one second and the first page ends among them: the rest of that
    # second must still be listed, whether Bynder keeps media at exactly "dateModified".
    ordered = sorted(sim.portal.media.values(), key=lambda m: (m["dateModified"], m["id"]))
    stamp_all(sim, ordered[6]["dateModified"], [m["id"] for m in ordered[6:13]])
    ids = ids_of(await read_all(connector, "media"))
    assert sorted(ids) == sorted(sim.portal.media)


async def test_incremental_read_without_changes_returns_nothing(
    connector: BynderConnector,
) -> None:
    watermark = (await read_all(connector, "media"))[-1].next_cursor
    again = await read_all(connector, "media", watermark)
    assert ids_of(again) == []
    assert again[-1].next_cursor == watermark


async def test_a_changed_item_comes_back_alone(
    sim: BynderSimulator, connector: BynderConnector
) -> None:
    watermark = (await read_all(connector, "media"))[-1].next_cursor
    changed = sorted(sim.portal.media)[7]
    sim.edit_tags(changed, ["edited"])
    again = await read_all(connector, "media", watermark)
    assert ids_of(again) == [changed]
    assert ids_of(await read_all(connector, "media", again[-1].next_cursor)) == []


async def test_media_reaching_the_watermark_second_later_are_read(
    sim: BynderSimulator, connector: BynderConnector
) -> None:
    # Media changed in the very second of the watermark, after the read: same timestamp.
    pages = await read_all(connector, "media")
    newest = max(m["dateModified"] for m in sim.portal.media.values())
    late = sorted(i for i, m in sim.portal.media.items() if m["dateModified"] != newest)[:3]
    stamp_all(sim, newest, late)
    again = ids_of(await read_all(connector, "media", pages[-1].next_cursor))
    assert sorted(again) == late


async def test_a_medium_changed_again_within_the_watermark_second_comes_back(
    sim: BynderSimulator, connector: BynderConnector
) -> None:
    pages = await read_all(connector, "media")
    newest = max(m["dateModified"] for m in sim.portal.media.values())
    (last,) = [i for i, m in sim.portal.media.items() if m["dateModified"] == newest]
    sim.portal.edit(last, tags=["changed", "in", "the", "same", "second"])
    assert ids_of(await read_all(connector, "media", pages[-1].next_cursor)) == [last]


@pytest.mark.parametrize(("lookback_s", "found"), [(10.0, True), (2.0, False)])
async def test_lookback_reads_media_the_index_showed_late(
    sim: BynderSimulator, client: httpx.AsyncClient, lookback_s: float, found: bool
) -> None:
    connector = connector_for(sim, client, incremental_lookback_s=lookback_s)
    watermark = (await read_all(connector, "media"))[-1].next_cursor
    # A medium modified 5 s before the newest one turns up only after the read.
    newest = max(parse_iso(m["dateModified"]) for m in sim.portal.media.values())
    template = sim.portal.media[sorted(sim.portal.media)[0]]
    late = {**template, "id": "LATE-MEDIUM", "dateModified": iso(newest - timedelta(seconds=5))}
    sim.portal.media[late["id"]] = late
    sim.portal.edit(late["id"])
    again = ids_of(await read_all(connector, "media", watermark))
    assert again == (["LATE-MEDIUM"] if found else [])


async def test_seen_media_are_bounded_and_still_not_read_again() -> None:
    # 1,200 media over the last 20 minutes, all inside a one-hour look-back.
    sim = make_simulator(assets=1200)
    start = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    for n, media_id in enumerate(sorted(sim.portal.media)):
        sim.portal.edit(media_id, dateModified=iso(start + timedelta(seconds=n)))
    async with client_for(sim) as http:
        connector = connector_for(sim, http, incremental_lookback_s=3600, page_size=100)
        watermark = (await read_all(connector, "media"))[-1].next_cursor
        assert watermark is not None
        assert len(MediaCursor.decode(watermark).seen) <= SEEN_LIMIT
        assert ids_of(await read_all(connector, "media", watermark)) == []
        changed = sorted(sim.portal.media)[5]
        sim.edit_tags(changed, ["edited"])
        assert ids_of(await read_all(connector, "media", watermark)) == [changed]


@pytest.mark.parametrize("seen_at_since", [False, True])
async def test_a_cursor_of_the_previous_format_is_read_as_meant(
    sim: BynderSimulator, connector: BynderConnector, seen_at_since: bool
) -> None:
    await read_all(connector, "media")
    newest = max(m["dateModified"] for m in sim.portal.media.values())
    at_newest = sorted(i for i, m in sim.portal.media.items() if m["dateModified"] == newest)
    seen = at_newest if seen_at_since else []
    old = json.dumps({"since": newest, "page": 1, "seen": seen})
    again = await read_all(connector, "media", old)
    # The old watermark forgot what it read in its last second: that second comes again.
    assert ids_of(again) == ([] if seen_at_since else at_newest)
    assert json.loads(again[-1].next_cursor or "")["v"] == 2
    assert ids_of(await read_all(connector, "media", again[-1].next_cursor)) == []


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        '{"since": null, "page": 0, "seen": []}',
        "[]",
        '{"since": null, "page": 2, "seen": [], "walk": "zz", "prior": null}',
        '{"v": 2, "since": "2026-01-01T00:00:00Z", "floor": null, "window": null, '
        '"page": 1, "seen": {}}',
        '{"v": 2, "since": null, "floor": null, "window": null, "page": 1, '
        '"seen": {"2026-01-01T00:00:00Z": {"a": "not a digest"}}}',
    ],
)
async def test_bad_cursor_is_refused(connector: BynderConnector, cursor: str) -> None:
    with pytest.raises(PermanentConnectorError, match="cursor"):
        await read_all(connector, "media", cursor)


def test_cursor_round_trips() -> None:
    stamp = "2026-01-01T00:00:00Z"
    seen = {"a": (stamp, "0123456789abcdef"), "b": ("2025-12-31T23:59:58Z", "")}
    cursor = MediaCursor(stamp, "2025-12-31T23:59:50Z", 1, seen, "2025-12-31T23:59:50Z")
    assert MediaCursor.decode(cursor.encode()) == cursor
    walking = MediaCursor(stamp, stamp, 2, seen, stamp, "1:" + "0" * 32, "2:" + "f" * 32)
    assert MediaCursor.decode(walking.encode()) == walking


async def test_unknown_stream_is_refused(connector: BynderConnector) -> None:
    with pytest.raises(PermanentConnectorError, match="no stream"):
        connector.read("collections", None)


async def test_metaproperties_stream_gives_one_page_each(
    sim: BynderSimulator, connector: BynderConnector
) -> None:
    pages = await read_all(connector, "metaproperties")
    assert [len(p.records) for p in pages] == [1] * len(sim.portal.metaproperties)
    assert {r.data["name"] for p in pages for r in p.records} >= {"Channel", "PerformanceTier"}


# ----- fetch -------------------------------------------------------------------------------


async def test_fetch_waits_the_advised_delay_first(sim: BynderSimulator) -> None:
    clock = FakeClock()
    async with client_for(sim) as client:
        with override_time(clock.source):
            connector = connector_for(sim, client, fetch_delay_s=3.0)
        records = await connector.fetch([Ref("media", sorted(sim.portal.media)[0])])
    assert len(records) == 1
    assert 3.0 in clock.slept


async def test_fetch_leaves_out_unknown_media(
    sim: BynderSimulator, connector: BynderConnector
) -> None:
    known = sorted(sim.portal.media)[:2]
    records = await connector.fetch([Ref("media", i) for i in [*known, "gone"]])
    assert [r.external_id for r in records] == known


# ----- write-back --------------------------------------------------------------------------


async def test_write_keeps_human_tags_and_replaces_owned_ones(
    sim: BynderSimulator, connector: BynderConnector
) -> None:
    target = sorted(sim.portal.media)[3]
    people = human(sim, target)
    sim.edit_tags(target, [*sim.media(target)["tags"], "perf:old", "perf:top-25"])
    (outcome,) = await connector.write([TagChange("media", target, frozenset({"perf:top-10"}))])
    assert outcome.status == "accepted"
    sim.apply_pending()
    assert set(sim.media(target)["tags"]) == people | {"perf:top-10"}


async def test_write_is_skipped_without_a_call_when_nothing_changes(
    sim: BynderSimulator, connector: BynderConnector
) -> None:
    target = sorted(sim.portal.media)[3]
    sim.edit_tags(target, [*sim.media(target)["tags"], "perf:top-10"])
    (outcome,) = await connector.write([TagChange("media", target, frozenset({"perf:top-10"}))])
    assert outcome.status == "skipped"
    assert sim.portal.pending == []


async def test_removing_every_owned_tag_keeps_the_human_ones(
    sim: BynderSimulator, connector: BynderConnector
) -> None:
    target = sorted(sim.portal.media)[3]
    people = human(sim, target)
    sim.edit_tags(target, [*sim.media(target)["tags"], "perf:top-10"])
    await connector.write([TagChange("media", target, frozenset())])
    sim.apply_pending()
    assert set(sim.media(target)["tags"]) == people


@pytest.mark.parametrize(
    ("desired", "reason"),
    [({"top-10"}, "outside the owned prefix"), ({"perf:a,b"}, "comma")],
)
async def test_unwritable_desired_tags_fail_without_a_call(
    sim: BynderSimulator, connector: BynderConnector, desired: set[str], reason: str
) -> None:
    target = sorted(sim.portal.media)[3]
    (outcome,) = await connector.write([TagChange("media", target, frozenset(desired))])
    assert outcome.status == "failed"
    assert reason in (outcome.detail or "")
    assert sim.portal.pending == []


async def test_human_tag_with_a_comma_fails_the_write_instead_of_splitting_it(
    sim: BynderSimulator, connector: BynderConnector
) -> None:
    target, other = sorted(sim.portal.media)[3:5]
    # The portal's UI lets a person type a comma into one tag; the form field cannot carry it.
    sim.portal.edit(target, tags=["Paris, France", "perf:top-25"])
    outcomes = await connector.write(
        [
            TagChange("media", target, frozenset({"perf:top-10"})),
            TagChange("media", other, frozenset({"perf:top-10"})),
        ]
    )
    assert [o.status for o in outcomes] == ["failed", "accepted"]
    assert "comma" in (outcomes[0].detail or "")
    assert not outcomes[0].retryable
    sim.apply_pending()
    assert sim.media(target)["tags"] == ["Paris, France", "perf:top-25"]
    assert "perf:top-10" in sim.media(other)["tags"]


async def test_human_tag_with_a_comma_does_not_block_a_skipped_write(
    sim: BynderSimulator, connector: BynderConnector
) -> None:
    target = sorted(sim.portal.media)[3]
    sim.portal.edit(target, tags=["Paris, France", "perf:top-10"])
    (outcome,) = await connector.write([TagChange("media", target, frozenset({"perf:top-10"}))])
    assert outcome.status == "skipped"


async def test_write_to_unknown_media_fails_and_the_rest_proceed(
    sim: BynderSimulator, connector: BynderConnector
) -> None:
    target = sorted(sim.portal.media)[3]
    outcomes = await connector.write(
        [
            TagChange("media", "gone", frozenset({"perf:top-10"})),
            TagChange("media", target, frozenset({"perf:top-10"})),
        ]
    )
    assert [o.status for o in outcomes] == ["failed", "accepted"]


async def test_owned_metaproperty_gets_tier_options_created_and_set(
    sim: BynderSimulator, client: httpx.AsyncClient
) -> None:
    tier_id = sim.sandbox_info["owned_metaproperty_id"]
    connector = connector_for(sim, client, owned_metaproperty_id=tier_id)
    target = sorted(sim.portal.media)[3]
    (outcome,) = await connector.write([TagChange("media", target, frozenset({"perf:top-10"}))])
    assert outcome.status == "accepted"
    sim.apply_pending()
    media = sim.media(target)
    assert media["property_PerformanceTier"] == ["top-10"]
    assert "perf:top-10" in media["tags"]
    (again,) = await connector.write([TagChange("media", target, frozenset({"perf:top-10"}))])
    assert again.status == "skipped"
    await connector.write([TagChange("media", target, frozenset())])
    sim.apply_pending()
    assert "property_PerformanceTier" not in sim.media(target)
    assert [o["name"] for o in sim.portal.metaproperties[tier_id]["options"]] == ["top-10"]


# ----- webhooks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "action"),
    [
        ("asset_bank.media.uploaded", "created"),
        ("asset_bank.media.create", "created"),
        ("asset_bank.media.updated", "updated"),
        ("asset_bank.media.meta_updated", "updated"),
        ("asset_bank.media.deleted", "deleted"),
        ("asset_bank.media.archived", "deleted"),
    ],
)
async def test_notification_gives_one_thin_event(
    sim: BynderSimulator, connector: BynderConnector, subject: str, action: str
) -> None:
    headers, body = sim.notification(subject, "9542A933-MEDIA")
    (event,) = await connector.parse_webhook(headers, body)
    assert event.delivery_key == json.loads(body)["MessageId"]
    assert (event.stream, event.external_id, event.action) == ("media", "9542A933-MEDIA", action)
    assert event.occurred_at is not None


async def test_verified_events_about_other_things_give_no_event(
    sim: BynderSimulator, connector: BynderConnector
) -> None:
    assert await connector.parse_webhook(*sim.notification("workflow.job.create", "x")) == []


async def test_subscription_confirmation_is_confirmed_and_gives_no_event(
    sim: BynderSimulator, connector: BynderConnector
) -> None:
    assert await connector.parse_webhook(*sim.subscription_confirmation()) == []
    assert len(sim.topic.confirmed) == 1


async def test_sandbox_subscribe_url_on_the_portal_is_allowed_with_a_pinned_cert() -> None:
    sim = make_simulator(assets=3, sns_public_base_url=PORTAL)
    async with client_for(sim) as client:
        assert (
            await connector_for(sim, client).parse_webhook(*sim.subscription_confirmation()) == []
        )
        unpinned = connector_for(sim, client, sns_pinned_cert_pem=None)
        with pytest.raises(InvalidWebhook, match="SigningCertURL"):
            await unpinned.parse_webhook(*sim.subscription_confirmation())
    assert len(sim.topic.confirmed) == 1


async def test_sandbox_subscribe_url_must_lie_under_the_portal_path() -> None:
    # Same origin as the portal, but not under its path: another app on that host.
    sim = make_simulator(assets=3, sns_public_base_url=f"{PORTAL}/other")
    async with client_for(sim) as client:
        connector = connector_for(sim, client, base_url=f"{PORTAL}/sandbox/bynder")
        with pytest.raises(InvalidWebhook, match="SubscribeURL"):
            await connector.parse_webhook(*sim.subscription_confirmation())
    assert sim.topic.confirmed == []


async def test_subscribe_url_elsewhere_is_refused() -> None:
    sim = make_simulator(assets=3, sns_public_base_url="https://evil.example")
    async with client_for(sim) as client:
        with pytest.raises(InvalidWebhook, match="SubscribeURL"):
            await connector_for(sim, client).parse_webhook(*sim.subscription_confirmation())
    assert sim.topic.confirmed == []


# ----- check and bad input -----------------------------------------------------------------


async def test_check_names_the_account(connector: BynderConnector) -> None:
    result = await connector.check()
    assert result.ok
    assert result.account["name"] == "Acme Corp (sandbox)"


async def test_wrong_token_fails_check_and_raises_auth_error_on_read(
    sim: BynderSimulator, client: httpx.AsyncClient
) -> None:
    connector = connector_for(sim, client, permanent_token="wrong")
    with pytest.raises(AuthError):
        await connector.check()
    with pytest.raises(AuthError):
        await read_all(connector, "media")


async def test_token_never_appears_in_errors(
    sim: BynderSimulator, client: httpx.AsyncClient
) -> None:
    connector = connector_for(sim, client, permanent_token="wrong-secret-value")
    with pytest.raises(AuthError) as caught:
        await read_all(connector, "media")
    assert "wrong-secret-value" not in str(caught.value)
    assert "wrong-secret-value" not in repr(connector.settings)


async def test_unreachable_host_is_transient(sim: BynderSimulator) -> None:
    clock = FakeClock()
    async with create_http_client() as client:
        with override_time(clock.source):
            connector = connector_for(sim, client, base_url="http://127.0.0.1:9")
        with pytest.raises(TransientConnectorError):
            await read_all(connector, "media")


async def test_garbage_answer_is_permanent(sim: BynderSimulator) -> None:
    async def html(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("<html>maintenance</html>")

    garbage = Starlette(routes=[Route("/api/v4/media/", html)])
    async with client_for(garbage) as client:
        with pytest.raises(PermanentConnectorError, match="garbage"):
            await read_all(connector_for(sim, client), "media")


async def test_429_storm_waits_and_completes() -> None:
    stormy = make_simulator(faults=FaultKnobs(rate_429=0.5, retry_after_s=0, seed=3))
    clean = make_simulator()
    async with client_for(stormy) as a, client_for(clean) as b:
        got = ids_of(await read_all(connector_for(stormy, a, rate_limit_block_s=0.001), "media"))
        want = ids_of(await read_all(connector_for(clean, b), "media"))
    assert got == want
    assert stormy.fault_middleware is not None
    assert stormy.fault_middleware.injected["429"] > 0


async def test_bynder_ip_block_is_waited_out() -> None:
    # The simulator's real limit is far below the documented one the connector assumes.
    sim = make_simulator(rate_limit=3, rate_window_s=300, rate_block_s=0.05)
    async with client_for(sim) as client:
        connector = connector_for(sim, client, rate_limit_block_s=0.1)
        pages = await read_all(connector, "media")
    assert sorted(ids_of(pages)) == sorted(sim.portal.media)
    assert sim.rate_limited > 0
