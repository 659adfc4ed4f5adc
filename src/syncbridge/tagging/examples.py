"""The OpenAPI examples of ``/v1/tag-rules``: the default rule, and a Bynder target."""

from __future__ import annotations

from typing import Any

_RULE_ID = "3c9d2e4f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
_BYNDER = "5f0c2b8e-1a4d-4c3b-8e2f-7a6b5c4d3e21"
_AT = "2026-12-02T09:30:00Z"

TIERS: list[dict[str, Any]] = [
    {"concept": "perf:top-10", "from_percentile": 90, "to_percentile": 100},
    {"concept": "perf:top-25", "from_percentile": 75, "to_percentile": 90},
    {"concept": "perf:middle", "from_percentile": 25, "to_percentile": 75},
    {"concept": "perf:bottom-25", "from_percentile": 0, "to_percentile": 25},
]

CREATE: dict[str, Any] = {
    "name": "Key-event rate by asset type and channel, last 28 days",
    "window_days": 28,
    "cohort_by": ["asset-type", "channel"],
    "kpi": {"type": "rate", "numerator": "key_events", "denominator": "views"},
    "smoothing": {"method": "wilson", "confidence": 0.95},
    "min_sample": 100,
    "tiers": TIERS,
    "insufficient_concept": "perf:insufficient-data",
    "targets": [
        {"connection_id": _BYNDER, "mode": "bynder_metaproperty", "metaproperty": "Performance"}
    ],
    "enabled": True,
}

PATCHES: list[dict[str, Any]] = [
    {"window_days": 14, "min_sample": 50},
    {"kpi": {"type": "count", "metric": "influenced_revenue"}, "smoothing": None},
]

#: What the API answers: percentiles are JSON numbers, which Python reads back as floats.
_CONTENT: dict[str, Any] = CREATE | {
    "tiers": [
        {
            **t,
            "from_percentile": float(t["from_percentile"]),
            "to_percentile": float(t["to_percentile"]),
        }
        for t in TIERS
    ]
}

RULE: dict[str, Any] = _CONTENT | {
    "id": _RULE_ID,
    "version": 2,
    "revision": 2,
    "default_key": None,
    "archived_at": None,
    "created_at": _AT,
    "updated_at": _AT,
}

VERSION: dict[str, Any] = _CONTENT | {
    "rule_id": _RULE_ID,
    "version": 2,
    "created_at": _AT,
    "created_by": "key:2f1c3d4e",
}
