"""Record streams linked in their pages (syncbridge.linking.pages): a run reads its asset
streams first and links each later record stream page by page, in the page's transaction;
the settle pass leaves those records out, unless an asset changed meanwhile in another run,
and a stream read while an asset stream of its run is unfinished is settled as before."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.linking import matching
from syncbridge.linking.matching import (
    AssetIndex,
    AssetRef,
    Matcher,
    RecordView,
    RuleView,
    Scope,
    field_values,
    find_links,
)
from syncbridge.linking.run import link_run, relink
from syncbridge.models import Asset, Connection, Link, RunStream, StoredRecord, utcnow
from syncbridge.sandbox.world import World
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.sync.encoding import canonical_json
from syncbridge.sync.runs import create_run, execute_run
from tests.sandbox_support import EmbeddedWorld, embedded_world

pytest_plugins = ["tests.store_fixtures"]

Sessionmaker = async_sessionmaker[AsyncSession]
#: Streams the default link rules read directly (no via rule reads them).
LINKED_IN_PAGES = {
    ("ga4", "asset_performance"),
    ("hubspot", "campaigns"),
    ("salesforce", "Campaign"),
}


@pytest.fixture
async def embedded(sessionmaker: Sessionmaker, tmp_path: Path) -> AsyncIterator[EmbeddedWorld]:
    async with embedded_world(sessionmaker, World(assets_count=40), tmp_path / "dam") as world:
        yield world


async def linked_since(
    sessionmaker: Sessionmaker, run_id: uuid.UUID
) -> dict[tuple[str, str], bool]:
    """Per (connector, stream) of the run: whether it was linked in its pages."""

    async def read(session: AsyncSession) -> dict[tuple[str, str], bool]:
        rows = await session.execute(
            select(Connection.connector_key, RunStream.stream, RunStream.linked_since)
            .join(Connection, Connection.id == RunStream.connection_id)
            .where(RunStream.run_id == run_id)
        )
        return {(key, stream): at is not None for key, stream, at in rows}

    return await in_unit_of_work(sessionmaker, read, write=False)


async def links_of(
    sessionmaker: Sessionmaker, connector: str, stream: str
) -> set[tuple[object, ...]]:
    async def read(session: AsyncSession) -> set[tuple[object, ...]]:
        rows = await session.execute(
            select(Link.asset_id, Link.record_id, Link.rule_id, Link.value)
            .join(StoredRecord, StoredRecord.id == Link.record_id)
            .join(Connection, Connection.id == StoredRecord.connection_id)
            .where(Connection.connector_key == connector, StoredRecord.stream == stream)
        )
        return {tuple(row) for row in rows}

    return await in_unit_of_work(sessionmaker, read, write=False)


async def drop_links_of(sessionmaker: Sessionmaker, connector: str, stream: str) -> None:
    async def work(session: AsyncSession) -> None:
        records = (
            select(StoredRecord.id)
            .join(Connection, Connection.id == StoredRecord.connection_id)
            .where(Connection.connector_key == connector, StoredRecord.stream == stream)
        )
        await session.execute(delete(Link).where(Link.record_id.in_(records)))

    await in_unit_of_work(sessionmaker, work)


async def test_record_streams_after_the_asset_streams_are_linked_in_their_pages(
    embedded: EmbeddedWorld,
) -> None:
    run = await embedded.sync(full=True)

    flags = await linked_since(embedded.sessionmaker, run.id)
    assert {pair for pair, linked in flags.items() if linked} == LINKED_IN_PAGES
    ga4 = await links_of(embedded.sessionmaker, "ga4", "asset_performance")
    assert ga4, "the GA4 rows name sandbox assets"
    # What the pages wrote is what a re-link of the whole store computes: it changes nothing.
    report = await relink(embedded.sessionmaker)
    assert (report.diff.added, report.diff.removed, report.diff.updated) == (0, 0, 0)
    assert await links_of(embedded.sessionmaker, "ga4", "asset_performance") == ga4


async def test_the_settle_pass_leaves_page_linked_records_alone_unless_an_asset_moved_since(
    embedded: EmbeddedWorld,
) -> None:
    sessionmaker = embedded.sessionmaker
    run = await embedded.sync(full=True)
    ga4 = await links_of(sessionmaker, "ga4", "asset_performance")
    assert ga4

    # Links the pages wrote are not matched again: drop them, settle again, they stay gone.
    await drop_links_of(sessionmaker, "ga4", "asset_performance")
    await link_run(sessionmaker, run.id)
    assert await links_of(sessionmaker, "ga4", "asset_performance") == set()

    # Another run changed an asset after the stream's index was read: the settle pass can no
    # longer trust the pages' links and matches the run's records again.
    async def another_run_touches_an_asset(session: AsyncSession) -> None:
        first = await session.scalar(select(Asset.id).order_by(Asset.id).limit(1))
        await session.execute(
            update(Asset).where(Asset.id == first).values(updated_at=utcnow(), last_run_id=None)
        )

    await in_unit_of_work(sessionmaker, another_run_touches_an_asset)
    await link_run(sessionmaker, run.id)
    assert await links_of(sessionmaker, "ga4", "asset_performance") == ga4


async def test_a_change_before_the_margin_does_not_count(embedded: EmbeddedWorld) -> None:
    sessionmaker = embedded.sessionmaker
    run = await embedded.sync(full=True)
    await drop_links_of(sessionmaker, "ga4", "asset_performance")

    async def long_ago(session: AsyncSession) -> None:
        # Every asset last changed well before the margin ahead of the streams' start.
        await session.execute(
            update(Asset).values(updated_at=utcnow() - timedelta(hours=2), last_run_id=None)
        )

    await in_unit_of_work(sessionmaker, long_ago)
    await link_run(sessionmaker, run.id)
    assert await links_of(sessionmaker, "ga4", "asset_performance") == set()


async def test_a_stream_read_while_an_asset_stream_of_its_run_is_pending_is_settled(
    embedded: EmbeddedWorld,
) -> None:
    sessionmaker = embedded.sessionmaker
    run_id = await create_run(
        sessionmaker, embedded.ctx, embedded.http, connection_id=None, full=True,
        streams=None, requested_by="test",
    )  # fmt: skip
    connections = await in_unit_of_work(sessionmaker, _connections, write=False)
    # One job per connection, the analytics ones first: the DAM streams are still queued.
    for _key, cid in sorted(connections, key=lambda c: c[0] != "ga4"):
        await execute_run(sessionmaker, embedded.ctx, embedded.http, run_id, connection_id=cid)

    flags = await linked_since(sessionmaker, run_id)
    assert flags[("ga4", "asset_performance")] is False
    assert await links_of(sessionmaker, "ga4", "asset_performance"), "settling linked the rows"
    report = await relink(sessionmaker)
    assert (report.diff.added, report.diff.removed, report.diff.updated) == (0, 0, 0)


async def _connections(session: AsyncSession) -> list[tuple[str, uuid.UUID]]:
    rows = await session.execute(select(Connection.connector_key, Connection.id))
    return [(str(key), cid) for key, cid in rows]


# -- matching a record in memory as the store will hold it ---------------------------------

_scalar = st.one_of(
    st.text(max_size=12),
    st.integers(),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.datetimes(timezones=st.just(UTC)),
    st.dates(),
    st.uuids(),
)
_value = st.one_of(_scalar, st.lists(_scalar, max_size=3), st.tuples(_scalar, _scalar))


@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(st.sampled_from(["a", "b", "c"]), _value, max_size=3))
def test_a_record_in_memory_gives_the_values_its_stored_json_gives(data: dict[str, Any]) -> None:
    stored = json.loads(canonical_json(data))
    for path in ("a", "b", "c[0]", "c[*]"):
        rule = RuleView(id=str(uuid.uuid4()), version=1, connector_key="x", field_path=path,
                        match="equals", asset_key="id")  # fmt: skip
        assert field_values(rule, data) == field_values(rule, stored)


def test_a_matcher_kept_over_batches_finds_what_fresh_matching_finds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assets = [(str(uuid.UUID(int=n + 1)), f"banner-{n}.jpg") for n in range(30)]
    index = AssetIndex()
    for position, (asset_id, name) in enumerate(assets):
        index.add(AssetRef(position + 1, "bynder"), asset_id, {"id": asset_id, "name": name})
    rules = [
        RuleView(id=str(uuid.uuid4()), version=1, connector_key="ga4", field_path="v",
                 match="contains", asset_key="id"),
        RuleView(id=str(uuid.uuid4()), version=1, connector_key="ga4", field_path="p",
                 match="path_segment", asset_key="file_name"),
    ]  # fmt: skip
    scope = Scope("ga4", uuid.uuid4(), "rows")
    records = [
        RecordView(n, scope, {"v": f"{a[0]};{b[0]}", "p": f"/lp/{a[1].upper()}"})
        for n, (a, b) in enumerate(zip(assets * 3, reversed(assets * 3), strict=True))
    ]
    expected = find_links(records, rules, index)
    assert expected
    monkeypatch.setattr(matching, "MEMO_MAX", 7)  # forgets often
    matcher = Matcher(rules, index)
    kept = [found for start in range(0, len(records), 10)
            for found in matcher.find(records[start:start + 10])]  # fmt: skip
    assert kept == expected
