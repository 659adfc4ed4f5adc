"""Extreme input gets a clear 4xx, never a 500, on SQLite and PostgreSQL (issue 7, item 1:
the cases fixed so far)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.plugins_connections import echo_installed, echo_settings

LISTS = ["/v1/taxonomy/schemes", "/v1/mappings", "/v1/connections", "/v1/keys", "/v1/audit"]


@pytest.mark.parametrize("path", LISTS)
async def test_an_offset_beyond_64_bits_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], path: str
) -> None:
    response = await client.get(f"{path}?offset={2**63}", headers=admin)
    assert response.status_code == 422, response.text
    largest = await client.get(f"{path}?offset={2**63 - 1}", headers=admin)
    assert largest.status_code == 200, largest.text
    assert largest.json()["items"] == []


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
async def test_an_audit_time_outside_utc_is_refused(
    client: httpx.AsyncClient, viewer: dict[str, str], since: str
) -> None:
    response = await client.get("/v1/audit", params={"since": since}, headers=viewer)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "since"


async def test_a_deeply_nested_preview_record_is_refused(
    client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    record: Any = "deep"
    for _ in range(300):
        record = {"x": record}
    body = {"connector_key": "hubspot", "record": record}
    response = await client.post("/v1/mappings/preview", json=body, headers=viewer)
    assert response.status_code == 422, response.text[:300]
    assert "deeper" in response.text


def _raw_json(value: dict[str, Any]) -> bytes:
    # The standard library writes NaN and Infinity as bare literals, as a careless client would.
    return json.dumps(value).encode()


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
async def test_non_finite_numbers_in_rule_values_are_refused(
    client: httpx.AsyncClient, editor: dict[str, str], number: float
) -> None:
    body = {
        "connector_key": "hubspot",
        "field_path": "amount",
        "operator": "in",
        "values": [1, number],
        "concept": "channel:email",
    }
    headers = {**editor, "content-type": "application/json"}
    response = await client.post("/v1/mappings", content=_raw_json(body), headers=headers)
    assert response.status_code == 422, response.text
    preview = {"connector_key": "hubspot", "record": {"amount": number}}
    answered = await client.post(
        "/v1/mappings/preview", content=_raw_json(preview), headers=headers
    )
    assert answered.status_code == 422, answered.text


async def test_a_label_that_case_folds_past_its_column_is_refused(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    scheme = {"key": "tone", "title": "Tone"}
    assert (await client.post("/v1/taxonomy/schemes", json=scheme, headers=editor)).is_success
    concept = {"scheme": "tone", "key": "tone:sharp", "pref_label": {"en": "ß" * 151}}
    response = await client.post("/v1/taxonomy/concepts", json=concept, headers=editor)
    assert response.status_code == 422, response.text
    assert "case-folds" in response.text


@pytest.mark.parametrize("value", ["inf", "NaN", 1e300, -1])
async def test_bynder_durations_must_be_finite_and_bounded(
    client: httpx.AsyncClient, admin: dict[str, str], value: Any
) -> None:
    settings = {
        "base_url": "https://dam.vendor.example/bynder",
        "permanent_token": "tok-abc",
        "sns_max_age_s": value,
    }
    body = {"connector": "bynder", "name": "b", "settings": settings}
    response = await client.post("/v1/connections", json=body, headers=admin)
    assert response.status_code == 422, response.text
    fields = [e["field"] for e in response.json()["errors"]]
    assert "settings.sns_max_age_s" in fields


async def test_a_ten_kilobyte_secret_is_stored(
    app: Any, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    async with echo_installed(app):
        token = echo_settings()["api_token"] + "x" * 10_000
        body = {"connector": "echo", "name": "long", "settings": echo_settings(api_token=token)}
        response = await client.post("/v1/connections", json=body, headers=admin)
    # Encrypted, it outgrew the old 8,000-character column: a 500 on PostgreSQL.
    assert response.status_code == 201, response.text
    assert response.json()["secrets_readable"] is True
