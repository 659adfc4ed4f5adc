"""The reconciliation verdict (pure): what syncbridge owns and the modification stamp are no
change, anything else is; owned-tag drift is judged only on settled, old enough states."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from syncbridge.connector.types import Record
from syncbridge.reconcile.compare import (
    Confirmed,
    OwnedFields,
    PageStore,
    Stored,
    differs,
    judge,
    observed,
    unowned,
)
from syncbridge.sync.encoding import Encoded, encode
from syncbridge.writeback.landing import OwnedState

OWNED = OwnedFields(
    prefix="perf:",
    metadata_keys=frozenset({"tier"}),
    keys=frozenset({"propertyOptions", "property_PerformanceTier"}),
    stamp="dateModified",
)
NOW = datetime(2026, 12, 2, 2, tzinfo=UTC)
BASE: dict[str, Any] = {
    "id": "A",
    "name": "hero.jpg",
    "tags": ["summer", "perf:top-10", "launch"],
    "dateModified": "2026-12-01T10:00:00Z",
    "propertyOptions": ["o-1", "o-tier"],
    "property_PerformanceTier": ["top-10"],
    "metadata": {"tier": "top-10", "region": "emea"},
}


def item(data: dict[str, Any]) -> Encoded:
    encoded = encode(Record("media", str(data["id"]), data))
    assert isinstance(encoded, Encoded)
    return encoded


def test_owned_tags_metadata_metaproperty_and_stamp_are_no_change() -> None:
    echo = {
        **BASE,
        "tags": ["launch", "summer", "perf:top-25"],
        "dateModified": "2026-12-02T01:00:00Z",
        "propertyOptions": ["o-1", "o-new"],
        "property_PerformanceTier": ["top-25"],
        "metadata": {"tier": "top-25", "region": "emea"},
    }
    assert unowned(echo, OWNED) == unowned(BASE, OWNED)


def test_a_change_to_what_people_own_is_a_change() -> None:
    for edit in (
        {"name": "hero-v2.jpg"},
        {"tags": ["summer", "perf:top-10"]},
        {"metadata": {"tier": "top-10", "region": "apac"}},
    ):
        assert unowned({**BASE, **edit}, OWNED) != unowned(BASE, OWNED), edit


def test_observed_owned_state_and_drift() -> None:
    seen = observed(BASE, OWNED, ["tier"])
    assert seen == OwnedState(frozenset({"perf:top-10"}), {"tier": "top-10"})
    assert not differs(OwnedState(frozenset({"perf:top-10"}), {"tier": ["top-10"]}), seen)
    assert differs(OwnedState(frozenset({"perf:top-25"}), {"tier": "top-10"}), seen)
    assert differs(OwnedState(frozenset({"perf:top-10"}), {}), seen)


def _store(digest: str, state: Confirmed | None, data: dict[str, Any] | None = None) -> PageStore:
    asset_id = uuid.UUID(int=1)
    return PageStore(
        {"A": Stored(asset_id, digest, False)},
        {"A": data} if data is not None else {},
        {asset_id: state} if state is not None else {},
    )


def _confirmed(
    tags: set[str], *, planned: str | None = None, at: datetime | None = None
) -> Confirmed:
    key = OwnedState(frozenset(tags)).key()
    return Confirmed(frozenset(tags), {}, key, key if planned is None else planned, at)


def test_drift_is_judged_only_where_no_write_is_in_flight_and_the_state_is_old_enough() -> None:
    stripped = item({**BASE, "tags": ["summer", "launch"], "metadata": {"region": "emea"}})
    owned = OwnedFields(prefix="perf:", stamp="dateModified")
    old = NOW - timedelta(hours=1)
    cases = {
        "settled": (_confirmed({"perf:top-10"}, at=old), 1),
        "in flight": (_confirmed({"perf:top-10"}, planned="other", at=old), 0),
        "just confirmed": (_confirmed({"perf:top-10"}, at=NOW), 0),
        "matching": (_confirmed(set(), at=old), 0),
    }
    for name, (state, drifts) in cases.items():
        store = _store(stripped.hash, state)
        verdict = judge({"A": stripped}, [], store, owned, drift_before=NOW)
        assert len(verdict.drift) == drifts, name
        assert (verdict.new, verdict.changed, verdict.unchanged) == ([], [], 1), name
    verdict = judge({"A": stripped}, [], _store(stripped.hash, cases["settled"][0]), owned,
                    drift_before=None)  # fmt: skip
    assert verdict.drift == []


def test_new_changed_unchanged_and_gone() -> None:
    stored = item(BASE)
    edited = item({**BASE, "name": "hero-v2.jpg"})
    echo = item({**BASE, "tags": ["summer", "launch"], "dateModified": "2026-12-03T00:00:00Z"})
    owned = OwnedFields(prefix="perf:", stamp="dateModified")
    changed = judge({"A": edited}, [], _store(stored.hash, None, BASE), owned, drift_before=None)
    assert changed.changed == ["A"]
    same = judge({"A": echo}, [], _store(stored.hash, None, BASE), owned, drift_before=None)
    assert (same.changed, same.unchanged) == ([], 1)
    new = judge({"B": item({**BASE, "id": "B"})}, [], _store(stored.hash, None), owned,
                drift_before=None)  # fmt: skip
    assert new.new == ["B"]
    gone = judge({}, ["A", "Z"], _store(stored.hash, None), owned, drift_before=None)
    assert gone.gone == ["A"]
