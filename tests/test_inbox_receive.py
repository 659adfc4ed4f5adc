"""The webhook receiver and the processing of its events, end to end through HTTP: signed
deliveries from the simulators into a running app with its worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.models import Run, StoredRecord
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.inbox_support import sandboxed_app
from tests.jobs_support import eventually

pytestmark = pytest.mark.embedded_worker(True)


async def test_a_signed_hubspot_delivery_is_stored_then_applied(
    settings: Settings, tmp_path: Path
) -> None:
    async with sandboxed_app(settings, tmp_path / "dam", inbox_debounce_s=0.0) as world:
        sim = world.simulator("hubspot")
        deal = sorted(sim.ids("deals"))[0]
        url = world.webhook_url("hubspot")
        headers, body, _ = sim.notification("deals", deal, url=url)
        answer = await world.client.post(url, content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"received": 1, "new": 1}
        again = await world.client.post(url, content=body, headers=headers)
        assert again.status_code == 200
        assert again.json() == {"received": 1, "new": 0}

        async def applied() -> bool:
            events = await world.events()
            if len(events) != 1 or events[0].run_id is None:
                return False
            run = await in_unit_of_work(
                world.app.state.sessionmaker,
                lambda s: s.get(Run, events[0].run_id),
                write=False,
            )
            return run is not None and run.status == "succeeded"

        await eventually(applied, "the event is applied by a finished run")
        [event] = await world.events()
        assert event.status == "handled"
        assert event.outcome == "fetched"

        async def stored(session: AsyncSession) -> tuple[StoredRecord | None, Run | None]:
            record = await session.scalar(
                select(StoredRecord).where(
                    StoredRecord.stream == "deals", StoredRecord.external_id == deal
                )
            )
            return record, await session.get(Run, event.run_id)

        record, run = await in_unit_of_work(world.app.state.sessionmaker, stored, write=False)
        assert record is not None
        assert record.last_run_id == event.run_id
        assert run is not None
        assert run.kind == "events"
        assert run.status == "succeeded"


async def test_a_forged_delivery_is_refused_and_nothing_is_stored(
    settings: Settings, tmp_path: Path
) -> None:
    async with sandboxed_app(settings, tmp_path / "dam") as world:
        sim = world.simulator("hubspot")
        deal = sorted(sim.ids("deals"))[0]
        url = world.webhook_url("hubspot")
        headers, body, _ = sim.notification("deals", deal, url=url)
        forged = body.replace(b'"objectId"', b'"objectId" ', 1)
        answer = await world.client.post(url, content=forged, headers=headers)
        assert answer.status_code == 401
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert await world.events() == []
