"""What processing does with the inbox: one fetch per object for a burst, tombstones for
deletions, dead events with their error, replays, the REST view and retention."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.models import InboxEvent, Run, RunStream, StoredRecord
from syncbridge.models.base import utcnow
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.conftest import bearer
from tests.inbox_support import Sandboxed, sandboxed_app

pytestmark = pytest.mark.embedded_worker(False)


async def deliver(world: Sandboxed, stream: str, object_id: str, change: str = "propertyChange"
                  ) -> None:  # fmt: skip
    sim = world.simulator("hubspot")
    url = world.webhook_url("hubspot")
    headers, body, _ = sim.notification(stream, object_id, change, url=url)
    answer = await world.client.post(url, content=body, headers=headers)
    assert answer.status_code == 200, answer.text


async def read(world: Sandboxed, statement: object) -> list[object]:
    async def run(session: AsyncSession) -> list[object]:
        return list(await session.scalars(statement))  # type: ignore[call-overload]

    return await in_unit_of_work(world.app.state.sessionmaker, run, write=False)


async def test_a_burst_about_one_object_costs_one_fetch(settings: Settings, tmp_path: Path) -> None:
    async with sandboxed_app(settings, tmp_path / "dam", inbox_debounce_s=0.0) as world:
        deals = sorted(world.simulator("hubspot").ids("deals"))[:3]
        # What applying one event about one deal costs at the vendor (a batch read, and
        # the associations a link needs):
        await deliver(world, "deals", deals[2])
        await world.process()
        [single] = await world.events()
        [alone] = await read(world, select(RunStream).where(RunStream.run_id == single.run_id))
        assert isinstance(alone, RunStream)
        assert alone.vendor_calls >= 1
        for _ in range(10):
            await deliver(world, "deals", deals[0])
        await deliver(world, "deals", deals[1])
        assert await world.process() >= 1
        events = [e for e in await world.events() if e.id != single.id]
        assert len(events) == 11
        assert {e.status for e in events} == {"handled"}
        assert {e.outcome for e in events} == {"fetched"}
        [run_id] = {e.run_id for e in events}
        [stream] = await read(world, select(RunStream).where(RunStream.run_id == run_id))
        assert isinstance(stream, RunStream)
        # Two objects, read once each, in the calls one object costs: eleven events, one
        # fetch.
        assert (stream.stream, stream.read, stream.inserted) == ("deals", 2, 2)
        assert stream.vendor_calls == alone.vendor_calls
        [run] = await read(world, select(Run).where(Run.id == run_id))
        assert isinstance(run, Run)
        assert (run.kind, run.status) == ("events", "succeeded")


async def test_a_deletion_tombstones_without_a_fetch(settings: Settings, tmp_path: Path) -> None:
    async with sandboxed_app(settings, tmp_path / "dam", inbox_debounce_s=0.0) as world:
        deal = sorted(world.simulator("hubspot").ids("deals"))[0]
        await deliver(world, "deals", deal)
        await world.process()
        await deliver(world, "deals", deal, change="deletion")
        await world.process()
        events = await world.events()
        assert [e.outcome for e in events] == ["fetched", "tombstoned"]
        [record] = await read(
            world,
            select(StoredRecord).where(
                StoredRecord.stream == "deals", StoredRecord.external_id == deal
            ),
        )
        assert isinstance(record, StoredRecord)
        assert record.deleted_at is not None
        [stream] = await read(world, select(RunStream).where(RunStream.run_id == events[1].run_id))
        assert isinstance(stream, RunStream)
        assert (stream.deleted, stream.vendor_calls) == (1, 0)


async def test_an_event_that_cannot_be_applied_is_dead_and_replays(
    settings: Settings, tmp_path: Path, api_keys: dict[object, str], admin: dict[str, str]
) -> None:
    from syncbridge.auth.service import Role

    editor, viewer = bearer(api_keys[Role.editor]), bearer(api_keys[Role.viewer])
    async with sandboxed_app(settings, tmp_path / "dam", inbox_debounce_s=0.0) as world:
        hubspot = world.connections["hubspot"]
        deal = sorted(world.simulator("hubspot").ids("deals"))[0]
        await deliver(world, "deals", deal)
        await _set_enabled(world, hubspot, enabled=False, admin=admin)
        await world.process()
        [event] = await world.events()
        assert event.status == "dead"
        assert event.attempts == 1
        assert event.last_error is not None
        assert "disabled" in event.last_error

        listed = await world.client.get(
            "/v1/events", params={"status": "dead", "connection_id": str(hubspot)}, headers=viewer
        )
        assert listed.status_code == 200
        assert [e["id"] for e in listed.json()["items"]] == [str(event.id)]
        assert listed.json()["items"][0]["last_error"] == event.last_error
        refused = await world.client.post(f"/v1/events/{event.id}/replay", headers=viewer)
        assert refused.status_code == 403

        await _set_enabled(world, hubspot, enabled=True, admin=admin)
        replayed = await world.client.post(f"/v1/events/{event.id}/replay", headers=editor)
        assert replayed.status_code == 200, replayed.text
        assert replayed.json()["status"] == "pending"
        assert replayed.json()["replays"] == 1
        await world.process()
        [event] = await world.events()
        assert (event.status, event.outcome, event.attempts) == ("handled", "fetched", 0)


async def test_bulk_replay_takes_only_dead_events(
    settings: Settings, tmp_path: Path, api_keys: dict[object, str], admin: dict[str, str]
) -> None:
    from syncbridge.auth.service import Role

    editor = bearer(api_keys[Role.editor])
    async with sandboxed_app(settings, tmp_path / "dam", inbox_debounce_s=0.0) as world:
        hubspot = world.connections["hubspot"]
        deals = sorted(world.simulator("hubspot").ids("deals"))[:3]
        await deliver(world, "deals", deals[0])
        await world.process()
        await _set_enabled(world, hubspot, enabled=False, admin=admin)
        await deliver_then_disable(world, deals[1:], admin)
        await world.process()
        statuses = sorted(e.status for e in await world.events())
        assert statuses == ["dead", "dead", "handled"]
        await _set_enabled(world, hubspot, enabled=True, admin=admin)
        answer = await world.client.post("/v1/events/replay", json={}, headers=editor)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"replayed": 2}
        await world.process()
        events = await world.events()
        assert [e.status for e in events] == ["handled"] * 3
        assert sorted(e.replays for e in events) == [0, 1, 1]


async def deliver_then_disable(world: Sandboxed, deals: list[str], admin: dict[str, str]
                               ) -> None:  # fmt: skip
    """Events stored while the connection was enabled, processed after it was disabled: the
    receiver refuses a disabled connection, so they are stored through the inbox first."""
    hubspot = world.connections["hubspot"]
    await _set_enabled(world, hubspot, enabled=True, admin=admin)
    for deal in deals:
        await deliver(world, "deals", deal)
    await _set_enabled(world, hubspot, enabled=False, admin=admin)


async def test_a_connection_disabled_after_a_delivery_gets_404_for_the_next(
    settings: Settings, tmp_path: Path, admin: dict[str, str]
) -> None:
    async with sandboxed_app(settings, tmp_path / "dam") as world:
        sim = world.simulator("hubspot")
        url = world.webhook_url("hubspot")
        deals = sorted(sim.ids("deals"))
        headers, body, _ = sim.notification("deals", deals[0], url=url)
        assert (await world.client.post(url, content=body, headers=headers)).status_code == 200
        # The receiver knows the connection now; disabling it must still be seen at once.
        await _set_enabled(world, world.connections["hubspot"], enabled=False, admin=admin)
        headers, body, _ = sim.notification("deals", deals[1], url=url)
        answer = await world.client.post(url, content=body, headers=headers)
        assert answer.status_code == 404
        unknown = await world.client.post(
            f"/webhooks/{uuid.uuid4()}", content=body, headers=headers
        )
        assert unknown.status_code == 404
        assert [e.external_id for e in await world.events()] == [deals[0]]
        await _set_enabled(world, world.connections["hubspot"], enabled=True, admin=admin)
        assert (await world.client.post(url, content=body, headers=headers)).status_code == 200


async def test_retention_prunes_only_handled_events_past_the_period(
    settings: Settings, tmp_path: Path
) -> None:
    async with sandboxed_app(settings, tmp_path / "dam", inbox_debounce_s=0.0) as world:
        deals = sorted(world.simulator("hubspot").ids("deals"))[:3]
        for deal in deals:
            await deliver(world, "deals", deal)
        await world.process()
        events = await world.events()
        old = utcnow() - timedelta(hours=settings.inbox_retention_hours + 1)

        async def age(session: AsyncSession) -> None:
            await session.execute(
                update(InboxEvent).where(InboxEvent.id == events[0].id).values(handled_at=old)
            )
            await session.execute(
                update(InboxEvent)
                .where(InboxEvent.id == events[1].id)
                .values(status="dead", handled_at=old)
            )

        await in_unit_of_work(world.app.state.sessionmaker, age)

        async def queue(session: AsyncSession) -> None:
            from syncbridge.inbox.service import queue_pruning

            await queue_pruning(session)

        await in_unit_of_work(world.app.state.sessionmaker, queue)
        await world.process()
        left = {e.id: e.status for e in await world.events()}
        assert left == {events[1].id: "dead", events[2].id: "handled"}


async def _set_enabled(
    world: Sandboxed, connection_id: uuid.UUID, *, enabled: bool, admin: dict[str, str]
) -> None:
    """As an admin does it: PATCH the connection (which moves the store's connections
    counter, so the receiver sees the change at the next delivery)."""
    answer = await world.client.patch(
        f"/v1/connections/{connection_id}", json={"enabled": enabled}, headers=admin
    )
    assert answer.status_code == 200, answer.text
