"""Vendor items as stored: canonical JSON, content hashes, and the checks an item must pass."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from syncbridge.connector.types import Record
from syncbridge.sync.encoding import MAX_DATA_BYTES, Encoded, Rejected, canonical_json, encode

WHEN = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_canonical_json_sorts_keys_drops_whitespace_and_encodes_typed_values() -> None:
    data = {"b": [Decimal("1.10"), date(2026, 1, 2)], "a": {"y": WHEN, "x": "é"}}
    assert canonical_json(data) == (
        '{"a":{"x":"é","y":"2026-11-30T12:00:00+00:00"},"b":["1.10","2026-01-02"]}'
    )


def test_the_same_item_in_another_key_order_hashes_the_same() -> None:
    one = encode(Record("s", "1", {"a": 1, "b": {"c": 2, "d": 3}}))
    two = encode(Record("s", "1", {"b": {"d": 3, "c": 2}, "a": 1}))
    assert isinstance(one, Encoded)
    assert isinstance(two, Encoded)
    assert one.hash == two.hash == hashlib.sha256(one.text.encode()).hexdigest()
    changed = encode(Record("s", "1", {"a": 1, "b": {"c": 2, "d": 4}}))
    assert isinstance(changed, Encoded)
    assert changed.hash != one.hash


def test_items_that_cannot_be_stored_are_rejected_with_a_reason() -> None:
    cases = {
        "no external id": Record("s", "  ", {}),
        "not JSON": Record("s", "set", {"tags": {"a", "b"}}),
        "larger than": Record("s", "big", {"x": "é" * (MAX_DATA_BYTES // 2)}),
        "time zone": Record("s", "naive", {}, updated_at=datetime(2026, 1, 1)),
    }
    for reason, record in cases.items():
        result = encode(record)
        assert isinstance(result, Rejected), reason
        assert reason in result.reason
    # Exactly at the bound is fine (the bound counts UTF-8 bytes, not characters).
    at_bound = encode(Record("s", "ok", {"x": "a" * (MAX_DATA_BYTES - len('{"x":""}'))}))
    assert isinstance(at_bound, Encoded)


def test_canonical_json_is_json_dumps_with_sorted_keys_and_no_whitespace() -> None:
    # The stored hashes were made with json.dumps; the prebuilt encoder must match it.
    values: list[Any] = [
        {"b": 1.5, "a": [1, 2.25e-10, 1e300, -0.0, True, None, 'é\u2028"\\'], "c": {}},
        {"k": [{"b": 2, "a": 1}], "n": Decimal("1.10"), "d": date(2020, 1, 2), "t": WHEN},
        {1: "int keys", 2: []},
        [],
        "text",
        3,
    ]

    def typed(value: Any) -> str:
        return value.isoformat() if isinstance(value, date) else str(value)

    for value in values:
        assert canonical_json(value) == json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=typed
        )


def test_data_that_holds_itself_or_a_nan_is_rejected() -> None:
    looped: dict[str, Any] = {}
    looped["self"] = looped
    for data in (looped, {"x": math.nan}):
        result = encode(Record("s", "1", data))
        assert isinstance(result, Rejected)
        assert "not JSON" in result.reason
