"""Full and incremental syncs of a simulated Bynder portal into the store: filling it, writing
nothing when nothing changed, updating exactly what changed, tombstoning what was deleted."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from syncbridge_bynder.simulator import BynderSimulator

from syncbridge.connections.service import ConnectionContext
from syncbridge.connector.http import create_http_client
from syncbridge.connector.types import Page, Record
from syncbridge.models import Asset, Connection, StoredRecord, StreamState
from syncbridge.models.base import utcnow
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.sync import pages, run_sync
from syncbridge.sync.encoding import canonical_json, content_hash
from syncbridge.sync.pages import Counts, PreparedPage, Target, prepare
from syncbridge.sync.repository import ID_CHUNK, ItemTable
from tests.sync_support import (
    HostRouter,
    Sessionmaker,
    bynder_portal,
    connect_bynder,
    context,
    items,
    run_streams,
)

pytest_plugins = ["tests.store_fixtures"]

ASSETS = 30


@pytest.fixture
def ctx() -> ConnectionContext:
    return context()


@pytest.fixture
def portal() -> tuple[BynderSimulator, str]:
    return bynder_portal(assets=ASSETS)


@pytest.fixture
async def http(portal: tuple[BynderSimulator, str]) -> AsyncIterator[httpx.AsyncClient]:
    sim, host = portal
    async with create_http_client(transport=HostRouter({host: sim})) as client:
        yield client


async def test_a_full_sync_fills_the_store(
    sessionmaker: Sessionmaker,
    ctx: ConnectionContext,
    http: httpx.AsyncClient,
    portal: tuple[BynderSimulator, str],
) -> None:
    sim, host = portal
    connection_id = await connect_bynder(sessionmaker, ctx, sim, host)
    run = await run_sync(
        sessionmaker, ctx, http, connection_id=connection_id, full=True, requested_by="test"
    )
    assert run.status == "succeeded", run.error
    stored = await items(sessionmaker, connection_id)
    media = {e for s, e, _h, d in stored if s == "media" and not d}
    assert media == set(sim.portal.media)
    streams = await run_streams(sessionmaker, run.id)
    assert streams["media"].inserted == ASSETS
    assert streams["media"].read == ASSETS
    assert streams["media"].vendor_calls >= ASSETS // 10
    assert streams["metaproperties"].inserted == len(
        [s for s, _e, _h, _d in stored if s == "metaproperties"]
    )
    assert streams["metaproperties"].inserted > 0
    one = sorted(media)[0]
    async with sessionmaker() as session:
        data = await session.scalar(select(Asset.data).where(Asset.external_id == one))
    assert isinstance(data, dict)  # stored as a JSON object, not as a JSON string
    assert data["id"] == one


async def _asset_rows(sessionmaker: Sessionmaker) -> list[tuple[str, str, object, object]]:
    async def work(session: AsyncSession) -> list[tuple[str, str, object, object]]:
        rows = await session.execute(
            select(Asset.external_id, Asset.content_hash, Asset.updated_at, Asset.last_run_id)
        )
        return sorted(tuple(r) for r in rows)  # type: ignore[misc]

    return await in_unit_of_work(sessionmaker, work, write=False)


async def test_a_second_full_sync_without_vendor_changes_writes_nothing(
    sessionmaker: Sessionmaker,
    ctx: ConnectionContext,
    http: httpx.AsyncClient,
    portal: tuple[BynderSimulator, str],
) -> None:
    sim, host = portal
    connection_id = await connect_bynder(sessionmaker, ctx, sim, host)
    await run_sync(
        sessionmaker, ctx, http, connection_id=connection_id, full=True, requested_by="t"
    )
    before = await _asset_rows(sessionmaker)
    again = await run_sync(
        sessionmaker, ctx, http, connection_id=connection_id, full=True, requested_by="t"
    )
    assert again.status == "succeeded", again.error
    streams = await run_streams(sessionmaker, again.id)
    for rs in streams.values():
        assert (rs.inserted, rs.updated, rs.deleted) == (0, 0, 0), rs.stream
        assert rs.unchanged == rs.read > 0
    assert await _asset_rows(sessionmaker) == before


async def test_an_incremental_sync_after_a_vendor_change_updates_exactly_that_row(
    sessionmaker: Sessionmaker,
    ctx: ConnectionContext,
    http: httpx.AsyncClient,
    portal: tuple[BynderSimulator, str],
) -> None:
    sim, host = portal
    connection_id = await connect_bynder(sessionmaker, ctx, sim, host)
    await run_sync(
        sessionmaker, ctx, http, connection_id=connection_id, full=True, requested_by="t"
    )
    before = {e: h for e, h, _u, _r in await _asset_rows(sessionmaker)}
    changed = sorted(sim.portal.media)[7]
    sim.edit_tags(changed, ["changed-by-a-person"])
    run = await run_sync(
        sessionmaker, ctx, http, connection_id=connection_id, streams=["media"], requested_by="t"
    )
    assert run.status == "succeeded", run.error
    after = {e: h for e, h, _u, _r in await _asset_rows(sessionmaker)}
    assert {e for e in after if after[e] != before[e]} == {changed}
    rs = (await run_streams(sessionmaker, run.id))["media"]
    assert (rs.inserted, rs.updated, rs.deleted) == (0, 1, 0)
    assert rs.read < ASSETS  # an incremental read, not a full one


async def test_a_vendor_deletion_becomes_a_tombstone_after_a_full_read(
    sessionmaker: Sessionmaker,
    ctx: ConnectionContext,
    http: httpx.AsyncClient,
    portal: tuple[BynderSimulator, str],
) -> None:
    sim, host = portal
    connection_id = await connect_bynder(sessionmaker, ctx, sim, host)
    await run_sync(
        sessionmaker, ctx, http, connection_id=connection_id, full=True, requested_by="t"
    )
    gone = sorted(sim.portal.media)[3]
    sim.portal.delete(gone)
    incremental = await run_sync(
        sessionmaker, ctx, http, connection_id=connection_id, streams=["media"], requested_by="t"
    )
    assert (await run_streams(sessionmaker, incremental.id))["media"].deleted == 0
    full = await run_sync(
        sessionmaker, ctx, http, connection_id=connection_id, full=True, requested_by="t"
    )
    assert full.status == "succeeded", full.error
    stored = {e: d for s, e, _h, d in await items(sessionmaker, connection_id) if s == "media"}
    assert len(stored) == ASSETS  # the row stays
    assert [e for e, d in stored.items() if d] == [gone]
    assert (await run_streams(sessionmaker, full.id))["media"].deleted == 1
    # A full read that finished is noted on the stream.
    async with sessionmaker() as session:
        state = await session.scalar(
            select(StreamState).where(
                StreamState.connection_id == connection_id, StreamState.stream == "media"
            )
        )
    assert state is not None
    assert state.last_full_read_at is not None
    assert state.claimed_by_run_id is None


def _page(items: Mapping[str, Mapping[str, object]], gone: tuple[str, ...] = ()) -> PreparedPage:
    when = datetime(2026, 11, 30, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    records = [Record("analytics", key, data, updated_at=when) for key, data in items.items()]
    records += [Record("analytics", key, {}, deleted=True) for key in gone]
    return prepare(Page(records, None))


async def test_pages_larger_than_an_id_list_are_written_as_one_batch_with_exact_counts(
    sessionmaker: Sessionmaker,
) -> None:
    connection = Connection(connector_key="ga4", name="batch", settings={}, secrets="")
    async with sessionmaker() as session, session.begin():
        session.add(connection)
    run_id = uuid.uuid4()
    target = Target(connection.id, "analytics", ItemTable.of("record"), run_id, full=True)
    rows = {f"row-{i:05d}": {"views": i, "page": f"/p/{i}"} for i in range(2 * ID_CHUNK + 7)}

    async def write(page: PreparedPage) -> Counts:
        return await in_unit_of_work(
            sessionmaker, lambda s: pages.write(s, target, page, utcnow(), keep=10)
        )

    first = await write(_page(rows))
    assert first.read == first.inserted == len(rows)
    assert (first.updated, first.unchanged) == (0, 0)
    changed: dict[str, Mapping[str, object]] = {
        **rows,
        "row-00003": {"views": -1},
        "row-00900": {"views": -2},
    }
    second = await write(_page(changed, gone=("row-00010", "row-00011", "never-stored")))
    assert (second.inserted, second.updated, second.deleted) == (0, 2, 2)
    # The rest, and the deletion of an item never stored, change nothing.
    assert second.unchanged == len(rows) - 2 - 2 + 1
    back = await write(_page({"row-00010": {"views": 10, "page": "/p/10"}}))
    assert (back.inserted, back.updated) == (0, 1)  # a tombstone that comes back is rewritten

    async with sessionmaker() as session:
        stored = {
            r.external_id: r
            for r in await session.scalars(
                select(StoredRecord).where(StoredRecord.connection_id == connection.id)
            )
        }
    assert len(stored) == len(rows)
    assert stored["row-00003"].data == {"views": -1}
    assert stored["row-00005"].data == {"views": 5, "page": "/p/5"}
    assert stored["row-00011"].deleted_at is not None
    assert stored["row-00010"].deleted_at is None
    assert stored["row-00005"].vendor_updated_at == datetime(2026, 11, 30, 7, 30, tzinfo=UTC)
    assert {r.seen_run_id for r in stored.values()} == {run_id}
    assert stored["row-00005"].content_hash == content_hash(canonical_json(rows["row-00005"]))
