"""A realistic answer of ``GET /v1/assets/{id}/metrics``, for the OpenAPI document (checked
by the tests against the response model)."""

from __future__ import annotations

from typing import Any

_GA4 = {
    "id": "9a2c4e61-5b7d-4f13-a8e9-3d6b0c2f7e45",
    "name": "Acme GA4",
    "connector_key": "ga4",
}
_HUBSPOT = {
    "id": "0b6e5a77-31f4-4f0e-8a59-7c1d9e2f6a10",
    "name": "Acme HubSpot",
    "connector_key": "hubspot",
}
_GA4_ROW = "7e3f9a24-8b1c-4d0e-9f1a-2b3c4d5e6f70"
_DEAL = "6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d"
_RUN = "f7c2b8d3-7e4a-4f9b-a6d0-2a3b4c5d6e7f"
_AT = "2026-11-30T02:16:03Z"


def _ga4(metric: str, value: Any) -> dict[str, Any]:
    return {
        "day": "2026-11-28",
        "metric": metric,
        "value": value,
        "connection": _GA4,
        "records": 1,
        "record_ids": [_GA4_ROW],
        "attribution": None,
        "run_id": _RUN,
        "computed_at": _AT,
    }


def _deal(metric: str, value: Any, attribution: str | None) -> dict[str, Any]:
    return {
        "day": "2026-11-29",
        "metric": metric,
        "value": value,
        "connection": _HUBSPOT,
        "records": 1,
        "record_ids": [_DEAL],
        "attribution": attribution,
        "run_id": _RUN,
        "computed_at": _AT,
    }


def _total(connection: dict[str, str], metric: str, value: Any, **rest: Any) -> dict[str, Any]:
    return {
        "metric": metric,
        "value": value,
        "connection": connection,
        "records": 1,
        "days": 1,
        "attribution": None,
        **rest,
    }


METRICS_EXAMPLE: dict[str, Any] = {
    "asset_id": "3c9e7f52-1d4a-4b8e-9f26-5a0c7e1b3d88",
    "from": "2026-11-28",
    "to": "2026-11-29",
    "facts": [
        _ga4("events", 1499),
        _ga4("key_events", 7),
        _ga4("revenue", "817.18"),
        _ga4("sessions", 523),
        _ga4("views", 560),
        _deal("influenced_deals", 1, None),
        _deal("influenced_revenue", "2307.00", "even"),
    ],
    "totals": [
        _total(_GA4, "events", 1499),
        _total(_HUBSPOT, "influenced_deals", 1),
        _total(_HUBSPOT, "influenced_revenue", "2307.00", attribution="even"),
        _total(_GA4, "key_events", 7),
        _total(_GA4, "revenue", "817.18"),
        _total(_GA4, "sessions", 523),
        _total(_GA4, "views", 560),
    ],
}

__all__ = ["METRICS_EXAMPLE"]
