"""`GET /v1/writebacks` and `/v1/writebacks/{id}`: the write-backs of a sandbox cycle with
their ledger, filtered by asset, connection and status, paged; and `writeback_history`, the
write-back part of an asset's trace."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.writeback.repository import writeback_history
from syncbridge.writeback.schemas import WriteBackOut
from tests.writeback_support import (
    Sessionmaker,
    WritebackWorld,
    connection_id,
    score,
    send_all,
    writeback_world,
    writebacks,
)

pytest_plugins = ["tests.store_fixtures"]
pytestmark = pytest.mark.embedded_worker(False)


@pytest.fixture
async def world(
    engine: AsyncEngine, sessionmaker: Sessionmaker, tmp_path: Path
) -> AsyncIterator[WritebackWorld]:
    async with writeback_world(engine, sessionmaker, tmp_path / "dam", assets=12) as built:
        await score(built)
        await send_all(built)
        yield built


async def test_the_list_shows_each_write_back_with_its_ledger_newest_first(
    world: WritebackWorld, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    rows = await writebacks(world)
    listed = await client.get("/v1/writebacks", params={"limit": 200}, headers=viewer)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["total"] == len(rows) > 0
    items = body["items"]
    assert {i["id"] for i in items} == {str(r.id) for r in rows}
    assert [i["created_at"] for i in items] == sorted(
        (i["created_at"] for i in items), reverse=True
    )
    first = items[0]
    assert first["status"] == "done"
    [attempt] = first["ledger"]
    assert attempt["attempt"] == 1
    assert attempt["vendor_status"] in ("applied", "accepted")
    assert attempt["added"] == first["desired_tags"]
    assert (attempt["removed"], attempt["error"], attempt["dry_run"]) == ([], None, False)
    assert set(attempt) >= {"at", "metadata"}


async def test_filters_and_paging(
    world: WritebackWorld, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    rows = await writebacks(world)
    bynder = await connection_id(world, "bynder")
    of_bynder = [r for r in rows if r.connection_id == bynder]
    got = await client.get(
        "/v1/writebacks", params={"connection_id": str(bynder), "limit": 200}, headers=viewer
    )
    assert {i["id"] for i in got.json()["items"]} == {str(r.id) for r in of_bynder}
    one = rows[0]
    got = await client.get("/v1/writebacks", params={"asset_id": str(one.asset_id)}, headers=viewer)
    assert [i["id"] for i in got.json()["items"]] == [str(one.id)]
    done = await client.get("/v1/writebacks", params={"status": "done"}, headers=viewer)
    assert done.json()["total"] == len(rows)
    dead = await client.get("/v1/writebacks", params={"status": "dead"}, headers=viewer)
    assert dead.json()["total"] == 0
    page = await client.get("/v1/writebacks", params={"limit": 2, "offset": 1}, headers=viewer)
    assert (len(page.json()["items"]), page.json()["next_offset"]) == (2, 3)


async def test_one_write_back_by_id_and_the_errors(
    world: WritebackWorld, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    row = (await writebacks(world))[0]
    got = await client.get(f"/v1/writebacks/{row.id}", headers=viewer)
    assert got.status_code == 200
    assert (got.json()["asset_id"], got.json()["version"]) == (str(row.asset_id), 1)
    assert len(got.json()["ledger"]) == 1
    missing = await client.get(f"/v1/writebacks/{uuid.uuid4()}", headers=viewer)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    bad = await client.get("/v1/writebacks", params={"status": "sent"}, headers=viewer)
    assert bad.status_code == 422
    assert "status" in bad.text
    assert (await client.get("/v1/writebacks")).status_code == 401


async def test_writeback_history_gives_an_assets_write_backs_with_their_attempts(
    world: WritebackWorld,
) -> None:
    row = (await writebacks(world))[0]

    async def read(session: AsyncSession) -> tuple[list[WriteBackOut], int]:
        return await writeback_history(session, row.asset_id, 10)

    items, total = await in_unit_of_work(world.sessionmaker, read, write=False)
    assert total == 1
    [item] = items
    assert (item.id, item.status, len(item.ledger)) == (row.id, "done", 1)
