"""A realistic answer of ``GET /v1/insights``, for the OpenAPI document."""

from __future__ import annotations

from typing import Any

_BYNDER = {
    "id": "5d1c7a3e-2b4f-4e6a-9c8d-1f2e3a4b5c6d",
    "name": "Acme Bynder",
    "connector_key": "bynder",
}


def _top(asset_id: str, name: str, value: float, views: int, bound: float) -> dict[str, Any]:
    return {
        "id": asset_id,
        "name": name,
        "external_id": asset_id[:8].upper(),
        "connection": _BYNDER,
        "dam_url": f"https://acme.bynder.com/media/?mediaId={asset_id[:8].upper()}",
        "value": value,
        "sample": views,
        "smoothed": bound,
    }


INSIGHTS_EXAMPLE: dict[str, Any] = {
    "group_by": ["channel", "asset-type"],
    "kpi": {"type": "rate", "numerator": "key_events", "denominator": "views"},
    "from": "2026-11-01",
    "to": "2026-11-30",
    "min_sample": 100,
    "connection_id": None,
    "ranked_by": "wilson_lower_bound",
    "assets": 412,
    "ungrouped": 37,
    "overall": {
        "assets": 318,
        "insufficient": 94,
        "median": 0.021,
        "p25": 0.012,
        "p75": 0.034,
        "iqr": 0.022,
        "min": 0.001,
        "max": 0.142,
        "mean": 0.026,
        "pooled": 0.024,
        "top_assets": [],
    },
    "groups": [
        {
            "concepts": [
                {"scheme": "channel", "key": "channel:paid-social", "pref_label": "Paid social"},
                {"scheme": "asset-type", "key": "asset:image", "pref_label": "Image"},
            ],
            "assets": 42,
            "insufficient": 9,
            "median": 0.018,
            "p25": 0.011,
            "p75": 0.029,
            "iqr": 0.018,
            "min": 0.002,
            "max": 0.121,
            "mean": 0.023,
            "pooled": 0.021,
            "top_assets": [
                _top(
                    "0f3a9c5e-7b21-4d8e-a6f4-3c2b1a098765",
                    "Spring sale hero banner",
                    0.121,
                    1874,
                    0.106,
                ),
                _top(
                    "7c4e2a19-5d3b-4f6a-8e1c-9b0a2d3c4e5f",
                    "Summer launch social square",
                    0.087,
                    3310,
                    0.078,
                ),
            ],
        }
    ],
}

__all__ = ["INSIGHTS_EXAMPLE"]
