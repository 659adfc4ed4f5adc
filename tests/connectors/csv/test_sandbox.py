"""The CSV sandbox: the world written as exports, and the settings of a connection to them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from syncbridge_csv import CsvSettings, exports, spec
from syncbridge_csv.sandbox import sandbox

from syncbridge.connector.folders import ROOTS_ENV
from syncbridge.connector.spec import HostPolicy
from syncbridge.connector.testing import read_all
from syncbridge.sandbox.world import World

WORLD = World(seed=42, assets_count=120)


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*.csv"))
    }


def test_the_sandbox_writes_files_rather_than_serving_a_simulator() -> None:
    assert sandbox.key == "csv"
    assert sandbox.simulator is None
    assert sandbox.materialize is exports.materialize


def test_the_same_world_writes_the_same_bytes(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    exports.materialize(WORLD, first)
    exports.materialize(WORLD, second)
    assert _digests(first) == _digests(second)
    assert len(_digests(first)) == exports.ANALYTICS_EXPORT_DAYS + 1


def test_the_settings_are_json_and_valid_under_the_sandbox_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ROOTS_ENV, str(tmp_path / "elsewhere"))
    folder = tmp_path / "sandbox" / "csv"
    folder.mkdir(parents=True)
    raw = json.loads(json.dumps(exports.materialize(WORLD, folder)))
    with pytest.raises(ValidationError, match="outside the permitted directories"):
        CsvSettings.validate_with(raw, HostPolicy())
    policy = HostPolicy(sandbox_folders=(tmp_path / "sandbox",))
    assert CsvSettings.validate_with(raw, policy).root == folder


async def test_a_connection_reads_what_the_world_holds(root: Path) -> None:
    raw = exports.materialize(WORLD, root)
    made = spec.factory(spec.settings_model.validate_with(raw, HostPolicy()), None)  # type: ignore[arg-type]
    rows = [r for p in await read_all(made, "ga4_pages") for r in p.records]
    days = exports.analytics_export_days(WORLD)
    world_rows = [row for day in days for row in WORLD.analytics_rows(day)]
    assert [r.external_id for r in rows] == [exports.analytics_id(row) for row in world_rows]
    for record, row in zip(rows, world_rows, strict=True):
        assert {k: record.data[k] for k in exports.expected_analytics(row)} == (
            exports.expected_analytics(row)
        )
        assert record.data["_role"] == "analytics"
    # Days alternate between the spreadsheet's UTF-8 and Excel's UTF-16 "Unicode text".
    by_file = {r.data["_source"]["file"]: r.data["_source"]["encoding"] for r in rows}
    assert set(by_file.values()) == {"utf-8-sig", "utf-16-le"}
    deals = [r for p in await read_all(made, "deals") for r in p.records]
    assert [r.external_id for r in deals] == [deal.id for deal in WORLD.deals]
    for record, deal in zip(deals, WORLD.deals, strict=True):
        assert {k: record.data[k] for k in exports.expected_deal(deal)} == (
            exports.expected_deal(deal)
        )
        assert record.data["_role"] == "crm"
        assert record.updated_at == deal.modified_at.replace(microsecond=0)
