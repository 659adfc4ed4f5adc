"""``/metrics`` counts webhook deliveries and reads the inbox and queue depth from the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from syncbridge.settings import Settings
from tests.inbox_support import Sandboxed, sandboxed_app
from tests.jobs_support import eventually


async def scrape(world: Sandboxed) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = await world.client.get("/metrics")
    assert answer.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:  # fmt: skip
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.embedded_worker(False)
async def test_deliveries_and_the_depth_they_leave_show_in_metrics(
    settings: Settings, tmp_path: Path
) -> None:
    async with sandboxed_app(settings, tmp_path / "dam") as world:
        before = await scrape(world)
        sim = world.simulator("hubspot")
        url = world.webhook_url("hubspot")
        deals = sorted(sim.ids("deals"))[:3]
        for deal in deals:
            headers, body, _ = sim.notification("deals", deal, url=url)
            assert (await world.client.post(url, content=body, headers=headers)).status_code == 200
        headers, body, _ = sim.notification("deals", deals[0], url=url)
        forged = body[:-2] + b" ]"
        assert (await world.client.post(url, content=forged, headers=headers)).status_code == 401
        after = await scrape(world)
        received = "syncbridge_webhook_events_received_total"
        accepted = "syncbridge_webhook_events_accepted_total"
        rejected = "syncbridge_webhook_deliveries_rejected_total"
        assert (
            value(after, received, connector="hubspot")
            - value(before, received, connector="hubspot")
            == 3
        )
        assert (
            value(after, accepted, connector="hubspot")
            - value(before, accepted, connector="hubspot")
            == 3
        )
        assert (
            value(after, rejected, connector="hubspot", reason="signature")
            - value(before, rejected, connector="hubspot", reason="signature")
            == 1
        )
        # No worker runs here: the events wait, and the store says so.
        assert value(after, "syncbridge_inbox_pending", connector="hubspot") == 3
        assert value(after, "syncbridge_jobs", kind="inbox.process", status="queued") == 1
        assert value(after, "syncbridge_store_readable") == 1


@pytest.mark.embedded_worker(True)
async def test_processing_empties_the_inbox_gauge_and_counts_the_job(
    settings: Settings, tmp_path: Path
) -> None:
    async with sandboxed_app(settings, tmp_path / "dam", inbox_debounce_s=0.0) as world:
        before = await scrape(world)
        sim = world.simulator("hubspot")
        url = world.webhook_url("hubspot")
        headers, body, _ = sim.notification("deals", sorted(sim.ids("deals"))[0], url=url)
        assert (await world.client.post(url, content=body, headers=headers)).status_code == 200

        async def processed() -> bool:
            return all(e.status == "handled" for e in await world.events())

        await eventually(processed, "the event is handled")

        async def counted() -> bool:
            now = await scrape(world)
            done = "syncbridge_job_outcomes_total"
            return (
                value(now, done, kind="inbox.process", outcome="done")
                > value(before, done, kind="inbox.process", outcome="done")
                and value(now, "syncbridge_inbox_pending", connector="hubspot") == 0
            )

        await eventually(counted, "the job's outcome is counted and the inbox is empty")
