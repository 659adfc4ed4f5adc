"""The shared contract suite, run over the Sample DAM test plugin and its simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from typing import Any

import pytest

from syncbridge.connector.errors import ConnectorError
from syncbridge.connector.http import RetryPolicy
from syncbridge.connector.spec import Connector
from syncbridge.connector.testing import ConnectorContract, FakeClock
from syncbridge.connector.types import Page, Record, TagChange, WebhookEvent, WriteOutcome
from syncbridge.sandbox.faults import FaultKnobs
from syncbridge.sandbox.world import World
from tests.plugins import sample
from tests.plugins.sample.connector import SampleConnector
from tests.plugins.sample.simulator import API_TOKEN, WEBHOOK_SECRET, SampleSimulator

#: 57 assets over pages of 10: six pages, the last one short.
WORLD_SIZE = 57


class TestSampleContract(ConnectorContract):
    spec = sample.spec
    sim: SampleSimulator

    async def make_connector(
        self, *, faults: FaultKnobs | None = None, **overrides: Any
    ) -> Connector:
        self.sim = SampleSimulator(World(seed=42, assets_count=WORLD_SIZE), faults=faults)
        values = {"api_token": API_TOKEN, "webhook_secret": WEBHOOK_SECRET, **overrides}
        settings = sample.SampleSettings.model_validate(values)
        return sample.spec.factory(settings, self.client_for(self.sim))

    def expected_ids(self, stream: str) -> set[str]:
        assert stream == "assets"
        return set(self.sim.assets)

    def expected_fields(self, stream: str, external_id: str) -> Mapping[str, Any]:
        assert stream == "assets"
        asset = self.sim.assets[external_id]
        return {"name": asset["name"], "modified": asset["modified"], "tags": asset["tags"]}

    def bad_credentials_overrides(self) -> Mapping[str, Any]:
        return {"api_token": "not-the-token"}

    async def modify_item(self, stream: str, external_id: str) -> None:
        assert stream == "assets"
        self.sim.touch(external_id)

    async def signed_webhook(self) -> tuple[dict[str, str], bytes]:
        return self.sim.delivery(sorted(self.sim.assets)[0])

    def human_tags(self, external_id: str) -> set[str]:
        return {t for t in self.sim.assets[external_id]["tags"] if not t.startswith("perf:")}

    def injected_faults(self) -> int:
        return sum(self.sim.faults.injected.values())


# ----- the suite can fail: it catches connectors that break the contract ----------------------


class Mutant(SampleConnector):
    """The Sample DAM connector with one contract bug switched on."""

    bug = ""

    async def read(self, stream: str, cursor: str | None) -> AsyncIterator[Page]:
        first = True
        if self.bug == "incremental-restarts" and cursor is not None and "|1|" in cursor:
            cursor = None  # the watermark of a finished read: start over
        async for page in super().read(stream, cursor):
            if self.bug == "wrong-item-data":
                page = Page([_renamed(r) for r in page.records], page.next_cursor)
            if self.bug == "resume-doubles" and cursor is not None and first:
                page = Page([*page.records, page.records[0]], page.next_cursor)
            first = False
            yield page

    async def write(self, changes: Sequence[TagChange]) -> list[WriteOutcome]:
        if self.bug != "write-drops-human-tags":
            return await super().write(changes)
        for change in changes:
            path = f"api/assets/{change.external_id}/tags"
            await self.http.request("PUT", path, json={"tags": sorted(change.desired)})
        return [WriteOutcome(c.external_id, "applied") for c in changes]

    async def parse_webhook(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        *,
        url: str = "",
        method: str = "POST",
    ) -> list[WebhookEvent]:
        if self.bug != "webhook-unverified":
            return await super().parse_webhook(headers, raw_body, url=url, method=method)
        return [WebhookEvent("d", "assets", "x", "updated")]


def _renamed(record: Record) -> Record:
    """The record with another item's name, as a connector mixing up responses would give."""
    return replace(record, data={**record.data, "name": f"{record.data['name']} (other)"})


class MutantContract(TestSampleContract):
    bug = ""

    async def make_connector(
        self, *, faults: FaultKnobs | None = None, **overrides: Any
    ) -> Connector:
        made = await super().make_connector(faults=faults, **overrides)
        assert isinstance(made, SampleConnector)
        mutant = Mutant(made.settings, made.http.client)
        mutant.bug = self.bug
        if self.bug == "no-retries":
            mutant.http.retry = RetryPolicy(attempts=1)
        return mutant


@pytest.mark.parametrize(
    ("bug", "test"),
    [
        ("resume-doubles", "test_resume_from_any_page_yields_exactly_the_rest"),
        ("write-drops-human-tags", "test_write_changes_owned_tags_and_keeps_human_tags"),
        ("webhook-unverified", "test_tampered_webhook_is_refused"),
        ("no-retries", "test_read_through_vendor_faults_equals_fault_free_read"),
        ("incremental-restarts", "test_incremental_read_without_changes_returns_nothing"),
        ("incremental-restarts", "test_incremental_read_returns_the_changed_item_only"),
        ("wrong-item-data", "test_full_read_yields_every_id_once"),
    ],
)
async def test_the_contract_catches_a_broken_connector(bug: str, test: str) -> None:
    suite = MutantContract()
    suite.bug = bug
    async with AsyncExitStack() as stack:
        suite.resources, suite.clock = stack, FakeClock()
        with pytest.raises((AssertionError, ConnectorError, pytest.fail.Exception)):
            await getattr(suite, test)()
