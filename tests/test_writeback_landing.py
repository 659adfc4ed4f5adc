"""How desired tiers land per target, and the owned-tag difference (pure functions)."""

from __future__ import annotations

from syncbridge.writeback.landing import (
    OwnedState,
    current_metadata,
    diff,
    landing,
    owned_state,
    same_value,
)

BYNDER = "8f0c0f8e-0000-4000-8000-000000000001"
CLOUDINARY = "8f0c0f8e-0000-4000-8000-000000000002"


def test_a_rule_without_targets_lands_everywhere_as_perf_tags() -> None:
    target = landing([], BYNDER)
    assert target is not None
    assert owned_state([(target, "perf:top-10")]) == OwnedState(frozenset({"perf:top-10"}))


def test_a_rule_with_targets_lands_only_where_it_says_and_how() -> None:
    targets = [
        {"connection_id": BYNDER, "mode": "tags", "prefix": "kpi/"},
        {"connection_id": CLOUDINARY, "mode": "cloudinary_context", "key": "tier"},
    ]
    assert landing(targets, "8f0c0f8e-0000-4000-8000-000000000003") is None
    bynder, cloudinary = landing(targets, BYNDER), landing(targets, CLOUDINARY)
    assert bynder is not None
    assert cloudinary is not None
    assert owned_state([(bynder, "perf:bottom-25")]).tags == {"kpi/bottom-25"}
    landed = owned_state([(cloudinary, "perf:middle"), (cloudinary, "perf:top-10")])
    assert (landed.tags, dict(landed.metadata)) == (frozenset(), {"tier": "middle"})


def test_the_difference_names_owned_tags_only() -> None:
    want = OwnedState(frozenset({"perf:top-10"}))
    found = diff(want, ["summer", "perf:middle", "perf-ish", "Perf:top-10"], {}, "perf:")
    assert found.add == frozenset({"perf:top-10"})
    assert found.remove == frozenset({"perf:middle"})
    assert not found.metadata
    assert diff(want, ["summer", "perf:top-10"], {}, "perf:").empty


def test_metadata_differs_only_when_its_value_does() -> None:
    want = OwnedState(frozenset(), {"performance_tier": "top-10", "tier": None})
    data = {"metadata": {"performance_tier": ["top-10"]}, "context": {"custom": {"tier": ""}}}
    current = current_metadata(data, ["performance_tier", "tier"])
    assert current == {"performance_tier": ["top-10"], "tier": ""}
    assert diff(want, [], current, "perf:").empty
    changed = diff(OwnedState(frozenset(), {"tier": "middle"}), [], current, "perf:")
    assert dict(changed.metadata) == {"tier": "middle"}
    assert not same_value("top-10", None)
    assert same_value(None, [])


def test_what_was_confirmed_and_is_no_longer_wanted_is_cleared() -> None:
    confirmed = OwnedState(frozenset({"perf:top-10"}), {"tier": "top-10", "old": None})
    wanted = OwnedState(frozenset(), {})
    assert dict(wanted.against(confirmed).metadata) == {"tier": None}
    assert wanted.same_as(OwnedState(frozenset(), {"gone": None}))
    assert not wanted.same_as(confirmed)
