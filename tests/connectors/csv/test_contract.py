"""The shared connector contract, run against the exports the CSV sandbox writes.

The "simulator state" the hooks answer from is the rows the sandbox writer was given
(the world's, plus the changes ``modify_item`` made), never what the connector read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from syncbridge_csv import exports, spec

from syncbridge.connector.folders import ROOTS_ENV
from syncbridge.connector.spec import Connector, HostPolicy
from syncbridge.connector.testing import ConnectorContract
from syncbridge.sandbox.faults import FaultKnobs
from syncbridge.sandbox.world import AnalyticsRow, Deal, World

ANALYTICS, DEALS = "ga4_pages", "deals"


class TestCsvContract(ConnectorContract):
    spec = spec
    world = World(seed=42, assets_count=200)

    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp = tmp_path
        self.made = 0
        # The roots variable permits another folder: only the host policy lets these in.
        monkeypatch.setenv(ROOTS_ENV, str(tmp_path / "permitted"))

    async def make_connector(
        self, *, faults: FaultKnobs | None = None, **overrides: Any
    ) -> Connector:
        # A folder has no transport to break: ``faults`` does not apply (see the skip below).
        del faults
        self.made += 1
        self.folder = self.tmp / f"sandbox-{self.made}"
        self.folder.mkdir()
        raw = {**exports.materialize(self.world, self.folder), "page_size": 7, **overrides}
        self.days: dict[date, list[AnalyticsRow]] = {
            day: self.world.analytics_rows(day) for day in exports.analytics_export_days(self.world)
        }
        self.deals: list[Deal] = list(self.world.deals)
        self.rewritten: dict[str, set[str]] = {ANALYTICS: set(), DEALS: set()}
        settings = spec.settings_model.validate_with(
            raw, HostPolicy(sandbox_folders=(self.folder,))
        )
        return spec.factory(settings, self.client_for(_no_http))

    def expected_ids(self, stream: str) -> set[str]:
        if stream == ANALYTICS:
            return {exports.analytics_id(row) for rows in self.days.values() for row in rows}
        assert stream == DEALS
        return {deal.id for deal in self.deals}

    def expected_fields(self, stream: str, external_id: str) -> Mapping[str, Any]:
        if stream == ANALYTICS:
            (row,) = [
                r
                for rows in self.days.values()
                for r in rows
                if exports.analytics_id(r) == external_id
            ]
            return exports.expected_analytics(row)
        (deal,) = [d for d in self.deals if d.id == external_id]
        return exports.expected_deal(deal)

    def incremental_rereads(self, stream: str) -> set[str]:
        # Incremental reads are per file: a rewritten file comes back with all its rows.
        return self.rewritten[stream]

    async def modify_item(self, stream: str, external_id: str) -> None:
        if stream == ANALYTICS:
            day = date.fromisoformat(external_id.split("|")[0])
            rows = [
                dataclasses.replace(row, views=row.views + 1000)
                if exports.analytics_id(row) == external_id
                else row
                for row in self.days[day]
            ]
            self.days[day] = rows
            exports.write_analytics_day(self.world, self.folder, day, rows)
            self.rewritten[stream] = {exports.analytics_id(row) for row in rows} - {external_id}
            return
        self.deals = [
            dataclasses.replace(
                deal, stage="closedlost", modified_at=deal.modified_at + timedelta(days=1)
            )
            if deal.id == external_id
            else deal
            for deal in self.deals
        ]
        exports.write_deals(self.folder, self.deals)
        self.rewritten[stream] = {deal.id for deal in self.deals} - {external_id}

    async def test_read_through_vendor_faults_equals_fault_free_read(self) -> None:
        pytest.skip("csv makes no vendor calls: there is no transport to inject faults in")


async def _no_http(*_asgi: Any) -> None:
    raise AssertionError("the csv connector must not make HTTP calls")
