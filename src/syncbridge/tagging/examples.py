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

_ASSET = {
    "connection_id": _BYNDER,
    "cohort": "asset:image/channel:email",
    "cohort_size": 48,
}

PREVIEW: dict[str, Any] = {
    "rule_id": _RULE_ID,
    "version": 2,
    "name": CREATE["name"],
    "window_start": "2026-11-03",
    "window_end": "2026-11-30",
    "assets": 1240,
    "changing": 37,
    "tags": [
        {
            "concept": "perf:top-10",
            "gain": 3,
            "keep": 41,
            "lose": 2,
            "after": 44,
            "examples": [
                {
                    "asset_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                    **_ASSET,
                    "external_id": "A1B2C3D4-E5F6-4711-8899-AABBCCDDEEFF",
                    "change": "gain",
                    "concept_before": "perf:top-25",
                    "concept_after": "perf:top-10",
                    "sample": 2310.0,
                    "kpi": 0.061,
                    "smoothed": 0.0517,
                    "percentile": 93.6,
                },
                {
                    "asset_id": "8b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e",
                    **_ASSET,
                    "external_id": "B2C3D4E5-F6A7-4822-99AA-BBCCDDEEFF00",
                    "change": "lose",
                    "concept_before": "perf:top-10",
                    "concept_after": "perf:top-25",
                    "sample": 180.0,
                    "kpi": 0.072,
                    "smoothed": 0.0391,
                    "percentile": 85.1,
                },
            ],
        },
        {
            "concept": "perf:insufficient-data",
            "gain": 0,
            "keep": 310,
            "lose": 4,
            "after": 310,
            "examples": [],
        },
    ],
}

VERSION: dict[str, Any] = _CONTENT | {
    "rule_id": _RULE_ID,
    "version": 2,
    "created_at": _AT,
    "created_by": "key:2f1c3d4e",
}
