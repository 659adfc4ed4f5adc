"""The revision watch: read models cached per store revision see every commit, whichever
process made it, without reading the counters from the store on every request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from syncbridge.app import create_app
from syncbridge.settings import Settings
from syncbridge.store.revision_watch import RevisionWatch
from tests.conftest import BACKEND

BASE = "/v1/taxonomy"

#: How long another process may take to see a commit (PostgreSQL: a notification's trip).
SETTLE_S = 10.0


@pytest.fixture
async def other_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """A second API process on the same store."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


async def _concepts(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    response = await client.get(f"{BASE}/concepts?scheme=mood", headers=headers)
    assert response.status_code == 200, response.text
    return [item["key"] for item in response.json()["items"]]


async def _eventually(client: httpx.AsyncClient, headers: dict[str, str], key: str) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_S
    while loop.time() < deadline:
        if key in await _concepts(client, headers):
            return True
        await asyncio.sleep(0.02)
    return False


async def _listening(watch: RevisionWatch) -> None:
    """Wait (bounded) until the watch vouches for the counters."""
    for _ in range(int(SETTLE_S / 0.02)):
        if watch.known() is not None:
            return
        await asyncio.sleep(0.02)


async def test_a_commit_in_another_process_reaches_the_cached_list(
    client: httpx.AsyncClient, other_app: FastAPI, editor: dict[str, str]
) -> None:
    scheme = {"key": "mood", "title": "Mood"}
    assert (await client.post(f"{BASE}/schemes", json=scheme, headers=editor)).is_success
    transport = httpx.ASGITransport(app=other_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://other") as other:
        assert await _concepts(other, editor) == []  # the other process caches this
        for n in range(3):
            concept = {"scheme": "mood", "key": f"mood:m{n}", "pref_label": {"en": f"M {n}"}}
            created = await client.post(f"{BASE}/concepts", json=concept, headers=editor)
            assert created.status_code == 201, created.text
            assert await _eventually(other, editor, f"mood:m{n}")
    # The process that wrote reads its own write at once.
    assert await _concepts(client, editor) == ["mood:m0", "mood:m1", "mood:m2"]


async def test_the_watch_answers_without_asking_the_store(
    app: FastAPI, client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    await client.get(f"{BASE}/concepts", headers=viewer)
    watch = app.state.revision_watch
    await _listening(watch)
    known = watch.known()
    assert known is not None
    assert set(known) == {"catalog", "api_keys", "connections"}


@pytest.mark.skipif(BACKEND != "postgresql", reason="the PostgreSQL watch listens")
async def test_a_lost_listener_falls_back_to_reading_the_store(
    app: FastAPI, client: httpx.AsyncClient, editor: dict[str, str], settings: Settings
) -> None:
    watch = app.state.revision_watch
    await _listening(watch)
    assert watch.known() is not None
    other = create_app(settings)
    async with other.router.lifespan_context(other), other.state.engine.connect() as conn:
        await conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND query LIKE 'LISTEN%'"
            )
        )
    # Without a listener nothing is vouched for; reads still see every commit.
    scheme = {"key": "mood", "title": "Mood"}
    assert (await client.post(f"{BASE}/schemes", json=scheme, headers=editor)).is_success
    listed = await client.get(f"{BASE}/schemes", headers=editor)
    assert "mood" in [s["key"] for s in listed.json()["items"]]
