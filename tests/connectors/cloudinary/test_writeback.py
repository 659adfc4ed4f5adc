"""Write planning as a pure function: grouping, batching, skipping and refusing."""

from __future__ import annotations

from typing import Any

from syncbridge_cloudinary.writeback import plan_writes

from syncbridge.connector.types import TagChange


def resource(public_id: str, tags: list[str], rt: str = "image", **extra: Any) -> dict[str, Any]:
    return {"public_id": public_id, "resource_type": rt, "type": "upload", "tags": tags, **extra}


def change(asset: str, *tags: str, **metadata: Any) -> TagChange:
    return TagChange("resources", asset, frozenset(tags), metadata=metadata)


def test_identical_operations_are_batched_up_to_the_limit() -> None:
    current = {f"a{i}": resource(f"p{i}", ["human"]) for i in range(5)}
    plan = plan_writes(
        [change(f"a{i}", "perf:top-10") for i in range(5)],
        current,
        tag_prefix="perf:",
        owned_metadata_field=None,
        batch_size=2,
    )
    assert [call.public_ids for call in plan.calls] == [("p0", "p1"), ("p2", "p3"), ("p4",)]
    assert {(c.action, c.command, c.value) for c in plan.calls} == {("tags", "add", "perf:top-10")}
    assert plan.pending == set(range(5))
    assert not plan.decided


def test_only_owned_tags_are_added_or_removed() -> None:
    current = {"a": resource("p", ["human", "perf:old", "perf:keep"])}
    plan = plan_writes(
        [change("a", "perf:keep", "perf:new")],
        current,
        tag_prefix="perf:",
        owned_metadata_field=None,
    )
    assert sorted((c.command, c.value) for c in plan.calls) == [
        ("add", "perf:new"),
        ("remove", "perf:old"),
    ]


def test_in_shape_assets_are_skipped() -> None:
    current = {"a": resource("p", ["human", "perf:top-10"], metadata={"tier": "top-10"})}
    plan = plan_writes(
        [change("a", "perf:top-10", tier="top-10")],
        current,
        tag_prefix="perf:",
        owned_metadata_field="tier",
    )
    assert not plan.calls
    assert plan.decided[0].status == "skipped"


def test_a_later_change_to_the_same_asset_wins() -> None:
    current = {"a": resource("p", [])}
    plan = plan_writes(
        [change("a", "perf:x"), change("a", "perf:y")],
        current,
        tag_prefix="perf:",
        owned_metadata_field=None,
    )
    assert plan.decided[0].status == "skipped"
    assert [(c.value, c.changes) for c in plan.calls] == [("perf:y", (1,))]


def test_metadata_lists_are_json_and_none_clears() -> None:
    current = {"a": resource("p", [], metadata={"tier": "x"}), "b": resource("q", [])}
    plan = plan_writes(
        [change("a", tier=None), change("b", tier=["m", "n"])],
        current,
        tag_prefix="perf:",
        owned_metadata_field="tier",
    )
    assert sorted(c.value for c in plan.calls) == ["tier=", 'tier=["m","n"]']


def test_tags_with_commas_are_refused() -> None:
    plan = plan_writes(
        [change("a", "perf:a,b")],
        {"a": resource("p", [])},
        tag_prefix="perf:",
        owned_metadata_field=None,
    )
    assert plan.decided[0].status == "failed"
    assert not plan.calls


def test_only_owned_context_keys_are_sent_and_in_shape_ones_skipped() -> None:
    current = {
        "a": resource("p", [], context={"custom": {"alt": "A cat", "tier": "top-10"}}),
        "b": resource("q", [], context={"custom": {"tier": "top-10"}}),
    }
    plan = plan_writes(
        [change("a", tier="top-10", rank=3, alt="ours?"), change("b", tier="top-10")],
        current,
        tag_prefix="perf:",
        owned_metadata_field=None,
        owned_context_keys=["tier", "rank"],
    )
    assert [(c.action, c.command, c.value, c.changes) for c in plan.calls] == [
        ("context", "add", "rank=3", (0,))
    ]
    assert plan.decided[1].status == "skipped"


def test_context_values_are_escaped_and_none_clears() -> None:
    current = {"a": resource("p", [], context={"custom": {"tier": "x"}})}
    plan = plan_writes(
        [change("a", tier=None, note="a=b|c")],
        current,
        tag_prefix="perf:",
        owned_metadata_field=None,
        owned_context_keys=["tier", "note"],
    )
    assert [c.value for c in plan.calls] == ["note=a\\=b\\|c|tier="]
