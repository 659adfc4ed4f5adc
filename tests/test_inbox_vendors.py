"""Each vendor's signed delivery, sent to the receiver after a change at the simulator,
updates the store: HubSpot, Salesforce outbound messages, Bynder (SNS) and Cloudinary."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.models import Asset, StoredRecord
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.sync.runs import run_sync
from tests.inbox_support import Sandboxed, sandboxed_app

pytestmark = pytest.mark.embedded_worker(False)

#: Change an item at a simulator and deliver its event: -> (connector key, table, stream,
#: external id, a check of the stored data).
Change = Callable[[Sandboxed], Awaitable[Any]]


def _amount_is(amount: float) -> Callable[[dict[str, Any]], bool]:
    return lambda data: data.get("Amount") == amount


def _tagged(tag: str) -> Callable[[dict[str, Any]], bool]:
    return lambda data: tag in data.get("tags", [])


async def post(world: Sandboxed, url: str, headers: dict[str, str], body: bytes) -> None:
    answer = await world.client.post(url, content=body, headers=headers)
    assert answer.status_code == 200, answer.text


async def hubspot(world: Sandboxed) -> Any:
    sim = world.simulator("hubspot")
    deal = sorted(sim.ids("deals"))[0]
    sim.modify("deals", deal, {"dealstage": "closedwon", "amount": "1234.5"})
    url = world.webhook_url("hubspot")
    headers, body, _ = sim.notification("deals", deal, property_name="dealstage",
                                        property_value="closedwon", url=url)  # fmt: skip
    await post(world, url, headers, body)
    return "hubspot", StoredRecord, "deals", deal, lambda data: data.get("dealstage") == "closedwon"


async def salesforce(world: Sandboxed) -> Any:
    sim = world.simulator("salesforce")
    opportunity = sorted(sim.org.live_ids("Opportunity"))[0]
    sim.org.update("Opportunity", opportunity, Amount=1234.5)
    secret = world.sandbox.connection_settings["salesforce"]["outbound_secret"]
    url = world.webhook_url("salesforce", f"/{secret}")
    headers, body, _ = sim.outbound_message([opportunity], url=url)
    answer = await world.client.post(url, content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert b"<Ack>true</Ack>" in answer.content
    return (
        "salesforce",
        StoredRecord,
        "Opportunity",
        opportunity,
        lambda data: data.get("Amount") == 1234.5,
    )


async def bynder(world: Sandboxed) -> Any:
    sim = world.simulator("bynder")
    media = sorted(sim.portal.media)[0]
    sim.edit_tags(media, [*sim.media(media)["tags"], "edited-by-a-person"])
    sim.apply_pending()
    headers, body = sim.notification("asset_bank.media.updated", media)
    await post(world, world.webhook_url("bynder"), headers, body)
    return (
        "bynder",
        Asset,
        "media",
        media,
        lambda data: "edited-by-a-person" in data.get("tags", []),
    )


async def cloudinary(world: Sandboxed) -> Any:
    sim = world.simulator("cloudinary")
    asset_id = sorted(sim.store.by_asset_id)[0]
    resource = sim.store.by_asset_id[asset_id]
    sim.set_tags(asset_id, [*resource.tags, "edited-by-a-person"])
    headers, body = sim.notification(
        "resource_tags_changed",
        resource.public_id,
        resource_type=resource.resource_type,
        change={"added": ["edited-by-a-person"], "removed": []},
    )
    await post(world, world.webhook_url("cloudinary"), headers, body)
    return (
        "cloudinary",
        Asset,
        None,
        asset_id,
        lambda data: "edited-by-a-person" in data.get("tags", []),
    )


@pytest.mark.parametrize("change", [hubspot, salesforce, bynder, cloudinary],
                         ids=lambda c: c.__name__)  # fmt: skip
async def test_a_delivery_after_a_change_updates_the_store(
    settings: Settings, tmp_path: Path, change: Change
) -> None:
    async with sandboxed_app(settings, tmp_path / "dam", inbox_debounce_s=0.0) as world:
        services = world.app.state.job_services
        sessionmaker = world.app.state.sessionmaker
        key = change.__name__
        # The store holds the item as it was before the change.
        synced = await run_sync(
            sessionmaker, services.connections, services.http,
            connection_id=world.connections[key], full=True, requested_by="test",
        )  # fmt: skip
        assert synced.status == "succeeded", synced.error
        key, table, stream, external_id, changed = await change(world)

        async def stored(session: AsyncSession) -> Any:
            statement = select(table).where(table.external_id == external_id)
            if stream is not None:
                statement = statement.where(table.stream == stream)
            return (await session.scalars(statement)).one()

        before = await in_unit_of_work(sessionmaker, stored, write=False)
        assert not changed(before.data), "the sync ran before the change"
        await world.process()
        events = await world.events()
        assert events, "the delivery stored events"
        assert {e.status for e in events} == {"handled"}
        assert any(e.outcome == "fetched" and e.external_id == external_id for e in events)

        row = await in_unit_of_work(sessionmaker, stored, write=False)
        assert changed(row.data), f"the store holds the change: {row.data}"
        assert row.last_run_id in {e.run_id for e in events}
