"""Every operation that takes a JSON body, sent what a JSON schema cannot describe (issue 7).

Schemathesis (``test_api_fuzz.py``) mixes boundary values into the values it generates, but
it only sends JSON that a schema can describe. These requests are raw bytes: bare ``NaN``
and ``Infinity`` literals (Python's ``json`` accepts them), numbers that overflow a float,
and documents nested thousands deep. Each operation found in the app's own OpenAPI document
must answer 4xx to each of them, never 5xx, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

#: Raw bodies, each an edge of JSON itself.
RAW_BODIES: dict[str, bytes] = {
    "nan": b"NaN",
    "infinity-in-object": b'{"value": Infinity, "values": [-Infinity], "n": NaN}',
    "float-overflow": b'{"value": 1e400, "limit": -1e400}',
    "huge-integer": b'{"value": ' + b"9" * 5000 + b"}",
    "deep-arrays": b"[" * 100_000 + b"]" * 100_000,
    "deep-objects": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "unclosed": b'{"name": "x", "settings": {',
    "lone-surrogate": b'{"name": "\\ud800"}',
}
#: Placeholders for path parameters: an id that exists nowhere, of the right shape.
PATH_VALUES = {"id": "00000000-0000-4000-8000-000000000000"}


def _json_operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for path, item in document["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                found.append((method.upper(), path))
    return sorted(found)


def _concrete(path: str) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: PATH_VALUES.get(m.group(1), "x"), path)


async def test_the_sweep_covers_every_json_operation(
    client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    document = (await client.get("/openapi.json", headers=viewer)).json()
    operations = _json_operations(document)
    # The create and update operations of every editable resource, and the previews.
    assert len(operations) >= 10, operations
    assert ("POST", "/v1/mappings/preview") in operations


@pytest.mark.parametrize("kind", sorted(RAW_BODIES))
async def test_no_json_operation_answers_5xx_to_edge_json(
    client: httpx.AsyncClient, admin: dict[str, str], kind: str
) -> None:
    document = (await client.get("/openapi.json", headers=admin)).json()
    headers = {**admin, "content-type": "application/json"}
    failures = []
    for method, path in _json_operations(document):
        response = await client.request(
            method, _concrete(path), content=RAW_BODIES[kind], headers=headers
        )
        if response.status_code >= 500 or response.status_code < 400:
            failures.append((method, path, response.status_code, response.text[:200]))
    assert failures == []
