"""Realistic answers of the asset endpoints, for the OpenAPI document (checked by the tests
against the response models)."""

from __future__ import annotations

from typing import Any

_BYNDER = {
    "id": "6f1d2c1e-8a3b-4c55-9d0e-2b7f4a1c9e01",
    "name": "Acme Bynder",
    "connector_key": "bynder",
}
_HUBSPOT = {
    "id": "0b6e5a77-31f4-4f0e-8a59-7c1d9e2f6a10",
    "name": "Acme HubSpot",
    "connector_key": "hubspot",
}
_GA4 = {
    "id": "9a2c4e61-5b7d-4f13-a8e9-3d6b0c2f7e45",
    "name": "Acme GA4",
    "connector_key": "ga4",
}
_ASSET_ID = "3c9e7f52-1d4a-4b8e-9f26-5a0c7e1b3d88"
_MEDIA_ID = "A1B2C3D4-E5F6-4711-8899-AABBCCDDEEFF"
_SYNC_RUN = "e4b1a7c2-6d3f-4e8a-b5c9-1f2a3b4c5d6e"
_RECENT_RUN = "f7c2b8d3-7e4a-4f9b-a6d0-2a3b4c5d6e7f"
_CAMPAIGN_RECORD = "5d2e8f13-6a7b-4c9d-8e0f-1a2b3c4d5e6f"
_GA4_RECORD = "7e3f9a24-8b1c-4d0e-9f1a-2b3c4d5e6f70"
_MAPPING_RULE = "8c9d0e1f-2a3b-4c4d-9e5f-6a7b8c9d0e1f"
_TAG_RULE = "3c9d2e4f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
_SCORE_RUN = "a8d3c9e4-8f5b-4a0c-b7e1-3b4c5d6e7f80"
_SOCIAL_ID = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
_EMEA_ID = "1d2e3f4a-5b6c-4d7e-9f8a-0b1c2d3e4f5a"
_SOCIAL = {
    "key": "channel:paid-social",
    "scheme": "channel",
    "pref_label": {"en": "Paid social", "de": "Bezahlte soziale Medien"},
    "status": "approved",
}
_EMEA = {
    "key": "region:emea",
    "scheme": "region",
    "pref_label": {"en": "EMEA"},
    "status": "approved",
}

_TOP_10 = {
    "key": "perf:top-10",
    "scheme": "performance-tier",
    "pref_label": {"en": "Top 10%"},
    "status": "approved",
}

_IDENTITY: dict[str, Any] = {
    "id": _ASSET_ID,
    "connection": _BYNDER,
    "stream": "media",
    "external_id": _MEDIA_ID,
    "name": "spring-launch-hero",
    "file_name": "spring-launch-hero.jpg",
    "dam_url": f"https://acme.bynder.com/media/?mediaId={_MEDIA_ID}",
    "content_hash": "9b0f3c6d2e8a4f1b7c5d9e0a3b6c8d1f2e4a7b9c0d3e5f8a1b2c4d6e8f0a3b5c",
    "updated_at": "2026-11-30T02:14:09Z",
    "deleted_at": None,
}

ASSET_EXAMPLE: dict[str, Any] = {
    **{k: v for k, v in _IDENTITY.items() if k != "deleted_at"},
    "vendor_updated_at": "2026-11-29T17:40:00Z",
    "first_seen_at": "2026-11-02T02:10:44Z",
    "deleted_at": None,
    "last_run_id": _SYNC_RUN,
    "seen_run_id": _RECENT_RUN,
    "data": {
        "id": _MEDIA_ID,
        "name": "spring-launch-hero",
        "type": "image",
        "extension": ["jpg"],
        "tags": ["spring", "hero"],
        "dateModified": "2026-11-29T17:40:00Z",
    },
    "classifications": [
        {"concept": _SOCIAL, "source": "rule"},
        {"concept": _EMEA, "source": "manual"},
    ],
}

_CAMPAIGN = {
    "id": _CAMPAIGN_RECORD,
    "connection": _HUBSPOT,
    "stream": "campaigns",
    "external_id": "c0a8f1e2-3b4c-4d5e-8f6a-7b8c9d0e1f2a",
    "summary": "Spring launch 2026",
    "deleted_at": None,
}

TRACE_EXAMPLE: dict[str, Any] = {
    "asset": _IDENTITY,
    "classifications": {
        "total": 2,
        "items": [
            {
                "id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
                "concept": _EMEA,
                "source": "manual",
                "rule": None,
                "evidence": None,
                "created_by": "key:jane-creative-ops (2f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f)",
                "note": "Shot for the Berlin launch",
                "run_id": None,
                "created_at": "2026-11-30T09:12:00Z",
                "updated_at": "2026-11-30T09:12:00Z",
            },
            {
                "id": "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e",
                "concept": _SOCIAL,
                "source": "rule",
                "rule": {
                    "kind": "mapping",
                    "id": _MAPPING_RULE,
                    "version": 3,
                    "name": "HubSpot campaign channel: social",
                },
                "evidence": {
                    "record_id": _CAMPAIGN_RECORD,
                    "record": _CAMPAIGN,
                    "field_path": "hs_campaign_channel",
                    "value": "Paid Social",
                },
                "created_by": None,
                "note": None,
                "run_id": _SYNC_RUN,
                "created_at": "2026-11-14T02:11:05Z",
                "updated_at": "2026-11-30T02:14:12Z",
            },
        ],
    },
    "classification_changes": {
        "total": 2,
        "items": [
            {
                "id": 4812,
                "concept_id": _EMEA_ID,
                "concept_key": "region:emea",
                "change": "added",
                "source": "manual",
                "reason": "added by key:jane-creative-ops "
                "(2f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f): Shot for the Berlin launch",
                "rule_id": None,
                "rule_version": None,
                "record_id": None,
                "run_id": None,
                "job_id": None,
                "actor": "key:jane-creative-ops (2f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f)",
                "at": "2026-11-30T09:12:00Z",
            },
            {
                "id": 4790,
                "concept_id": _SOCIAL_ID,
                "concept_key": "channel:paid-social",
                "change": "changed",
                "source": "rule",
                "reason": "rule 'HubSpot campaign channel: social' v3 (hs_campaign_channel = "
                '"Paid Social" on linked record 5d2e8f13-6a7b-4c9d-8e0f-1a2b3c4d5e6f) '
                "still matches (was v2)",
                "rule_id": _MAPPING_RULE,
                "rule_version": 3,
                "record_id": _CAMPAIGN_RECORD,
                "run_id": None,
                "job_id": "9d0e1f2a-3b4c-4d5e-8f6a-7b8c9d0e1f2a",
                "actor": None,
                "at": "2026-11-30T02:14:12Z",
            },
        ],
    },
    "links": {
        "total": 2,
        "items": [
            {
                "id": "3c4d5e6f-7a8b-4c9d-8e0f-2a3b4c5d6e7f",
                "record": {
                    "id": _GA4_RECORD,
                    "connection": _GA4,
                    "stream": "landing_pages",
                    "external_id": "2026-11-28|/spring/launch|paid-social",
                    "summary": "date: 2026-11-28 · landingPage: /spring/launch",
                    "deleted_at": None,
                },
                "rule": {
                    "kind": "link",
                    "id": "4d5e6f7a-8b9c-4d0e-9f1a-3b4c5d6e7f80",
                    "version": 1,
                    "name": "Asset id in utm_content",
                },
                "evidence": {"field_path": "sessionManualAdContent", "value": _MEDIA_ID},
                "run_id": _RECENT_RUN,
                "created_at": "2026-11-30T02:15:40Z",
            },
            {
                "id": "4d5e6f7a-8b9c-4d0e-8f1a-3b4c5d6e7f81",
                "record": _CAMPAIGN,
                "rule": {
                    "kind": "link",
                    "id": "5e6f7a8b-9c0d-4e1f-8a2b-4c5d6e7f8091",
                    "version": 2,
                    "name": "HubSpot campaign assets",
                },
                "evidence": {"field_path": "assets[].id", "value": _MEDIA_ID},
                "run_id": _SYNC_RUN,
                "created_at": "2026-11-30T02:14:11Z",
            },
        ],
    },
    "metrics": {
        "from": "2026-09-01",
        "to": "2026-11-29",
        "total": 3,
        "items": [
            {
                "metric": "influenced_revenue",
                "value": "4250.00",
                "days": 2,
                "sources": [
                    {
                        "connection": _HUBSPOT,
                        "value": "4250.00",
                        "records": 2,
                        "days": 2,
                        "attribution": "even",
                    }
                ],
            },
            {
                "metric": "key_events",
                "value": 412,
                "days": 61,
                "sources": [
                    {
                        "connection": _GA4,
                        "value": 412,
                        "records": 143,
                        "days": 61,
                        "attribution": None,
                    }
                ],
            },
            {
                "metric": "views",
                "value": 6120,
                "days": 74,
                "sources": [
                    {
                        "connection": _GA4,
                        "value": 6120,
                        "records": 188,
                        "days": 74,
                        "attribution": None,
                    }
                ],
            },
        ],
    },
    "performance_tags": {
        "total": 1,
        "items": [
            {
                "concept": _TOP_10,
                "rule": {
                    "kind": "tag",
                    "id": _TAG_RULE,
                    "version": 1,
                    "name": "Key-event rate per view, by asset type and channel, last 28 days",
                },
                "measure": "key_events per views over 28 days, ranked by the lower bound of "
                "its Wilson interval at 95%",
                "kpi": 0.0731,
                "smoothed": 0.0603,
                "sample": 1710.0,
                "cohort": "asset:image/channel:paid-social",
                "cohort_size": 37,
                "percentile": 94.4,
                "window_start": "2026-11-02",
                "window_end": "2026-11-29",
                "run_id": _SCORE_RUN,
                "computed_at": "2026-11-30T02:16:31Z",
            }
        ],
    },
    "write_backs": {
        "total": 1,
        "items": [
            {
                "id": "b9e4d0f5-9a6c-4b1d-8c2e-4c5d6e7f8091",
                "asset_id": _ASSET_ID,
                "connection_id": _BYNDER["id"],
                "connection": _BYNDER,
                "version": 1,
                "status": "done",
                "attempts": 1,
                "run_after": "2026-11-30T02:16:32Z",
                "desired_tags": ["perf:top-10"],
                "desired_metadata": {},
                "planned_add": ["perf:top-10"],
                "planned_remove": [],
                "planned_metadata": {},
                "run_id": _SCORE_RUN,
                "dry_run": False,
                "vendor_status": "applied",
                "last_error": None,
                "created_at": "2026-11-30T02:16:31Z",
                "updated_at": "2026-11-30T02:16:34Z",
                "finished_at": "2026-11-30T02:16:34Z",
                "ledger": [
                    {
                        "attempt": 1,
                        "at": "2026-11-30T02:16:34Z",
                        "added": ["perf:top-10"],
                        "removed": [],
                        "metadata": {},
                        "vendor_status": "applied",
                        "error": None,
                        "dry_run": False,
                    }
                ],
            }
        ],
    },
    "runs": {
        "total": 3,
        "items": [
            {
                "id": _SCORE_RUN,
                "kind": "score",
                "status": "succeeded",
                "full": False,
                "connection_id": None,
                "requested_by": "system:metrics.compute",
                "created_at": "2026-11-30T02:16:14Z",
                "started_at": "2026-11-30T02:16:29Z",
                "finished_at": "2026-11-30T02:16:33Z",
                "roles": ["scored"],
            },
            {
                "id": _RECENT_RUN,
                "kind": "sync",
                "status": "succeeded",
                "full": False,
                "connection_id": None,
                "requested_by": "scheduler",
                "created_at": "2026-11-30T02:15:00Z",
                "started_at": "2026-11-30T02:15:01Z",
                "finished_at": "2026-11-30T02:15:44Z",
                "roles": ["last_read", "linked"],
            },
            {
                "id": _SYNC_RUN,
                "kind": "sync",
                "status": "succeeded",
                "full": True,
                "connection_id": None,
                "requested_by": "key:ops-admin (6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d)",
                "created_at": "2026-11-30T02:10:00Z",
                "started_at": "2026-11-30T02:10:02Z",
                "finished_at": "2026-11-30T02:14:30Z",
                "roles": ["last_changed", "classified", "linked"],
            },
        ],
    },
}

__all__ = ["ASSET_EXAMPLE", "TRACE_EXAMPLE"]
