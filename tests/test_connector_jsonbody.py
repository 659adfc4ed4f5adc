"""``syncbridge.connector.jsonbody.loads``: msgspec's speed, the standard decoder's answers."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import httpx
import pytest

from syncbridge.connector.jsonbody import loads

# Bodies msgspec decodes itself, and bodies only the standard decoder takes (msgspec refuses
# them): each must decode to what ``json.loads`` gives.
BODIES = [
    b'{"rows": [{"dimensionValues": [{"value": "20261201"}], "metricValues": [{"value": "7"}]}]}',
    b'[1, -2.5e-3, "caf\\u00e9", "\xe2\x82\xac", null, true, false, {"a": {"b": []}}]',
    b'{"a": 1, "a": 2}',
    '{"x": "\u00e9"}'.encode("utf-16"),
    '{"x": "\u00e9"}'.encode("utf-32-le"),
    b"\xef\xbb\xbf" + b'{"bom": true}',
    b'{"big": 123456789012345678901234567890}',
    b'{"n": NaN, "i": -Infinity}',
    b'["\\ud800"]',
    '{"text": "str, not bytes"}',
    '["a lone surrogate in a str: \ud800"]',
]


def _same(left: Any, right: Any) -> bool:
    """Equal, with NaN equal to NaN and the types of numbers compared too."""
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left):
        return math.isnan(right)
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(_same, left, right))
    return bool(left == right)


@pytest.mark.parametrize("body", BODIES)
def test_loads_decodes_what_the_standard_decoder_decodes(body: bytes | str) -> None:
    assert _same(loads(body), json.loads(body))


@pytest.mark.parametrize(
    "garbage", [b"", b"{", b'{"rows": [', b"<html>502</html>", b"\xff\xfe\x00", b'{"a" 1}']
)
def test_garbage_raises_the_standard_decoders_value_error(garbage: bytes) -> None:
    try:
        json.loads(garbage)
    except ValueError as exc:
        refused = type(exc)
    else:
        pytest.fail("the standard decoder took it")
    with pytest.raises(refused):
        loads(garbage)


def test_large_numbers_and_floats_keep_their_values() -> None:
    body = b'{"revenue": "12.34", "views": 9007199254740993, "rate": 0.1}'
    value = loads(body)
    assert value == {"revenue": "12.34", "views": 9007199254740993, "rate": 0.1}
    assert Decimal(value["revenue"]) == Decimal("12.34")


def test_the_vendor_client_parses_answers_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """``VendorHttp.parse_json`` decodes through ``loads``: a UTF-16 answer (which only the
    fallback takes) and a UTF-8 one both come back as ``httpx``'s own decoding gives."""
    from syncbridge.connector import http
    from syncbridge.connector.http import VendorHttp
    from syncbridge.connector.ratelimit import AdaptiveRateLimiter, RateLimitPolicy

    vendor = VendorHttp(
        httpx.AsyncClient(),
        base_url="https://vendor.example/api",
        connector_key="test",
        limiter=AdaptiveRateLimiter(RateLimitPolicy(10, 1.0)),
    )

    seen: list[bytes | str] = []

    def recording(data: bytes | str) -> Any:
        seen.append(data)
        return loads(data)

    monkeypatch.setattr(http, "loads", recording)
    contents = ['{"ok": "\u00e9"}'.encode("utf-16"), b'{"ok": "\\u00e9"}']
    for content in contents:
        response = httpx.Response(200, content=content)
        assert vendor.parse_json(response) == response.json()
    assert seen == contents
