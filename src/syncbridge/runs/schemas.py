"""Request and response bodies of ``/v1/runs``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator

from syncbridge.models.store import STREAM_LENGTH

StreamName = Annotated[str, StringConstraints(min_length=1, max_length=STREAM_LENGTH)]
RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]

_RUN_ID = "0b7e9c1e-5d3a-4f7e-9a51-2f1c3d4e5a60"
_CONNECTION_ID = "5f0c2b8e-1a4d-4c3b-8e2f-7a6b5c4d3e21"


class RunCreate(BaseModel):
    """What to run: a sync of one connection (or every enabled one), fully or
    incrementally; a scoring run (`kind: "score"`, no other field), which computes every
    asset's desired performance tag under each enabled tag rule; or a reconciliation
    (`kind: "reconcile"`, optionally of one `connection_id`), which compares a full read of
    each DAM with the store, repairs the drift and reports it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"kind": "sync", "connection_id": _CONNECTION_ID, "full": False},
                {"kind": "sync", "full": True, "streams": ["media"]},
                {"kind": "score"},
                {"kind": "reconcile"},
            ]
        },
    )

    kind: Literal["sync", "score", "reconcile"] = "sync"
    connection_id: uuid.UUID | None = Field(
        default=None, description="The connection to sync; absent: every enabled connection."
    )
    full: StrictBool = Field(
        default=False,
        description="Read everything and tombstone what the vendor no longer has; else read "
        "from each stream's last cursor.",
    )
    streams: list[StreamName] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Only these streams (by name); absent: every stream.",
    )

    @model_validator(mode="after")
    def _score_takes_no_sync_fields(self) -> RunCreate:
        if self.kind == "score":
            given = [f for f in ("connection_id", "full", "streams") if f in self.model_fields_set]
            if given:
                raise ValueError(f"a score run takes no {', '.join(given)}")
        if self.kind == "reconcile":
            given = [f for f in ("full", "streams") if f in self.model_fields_set]
            if given:
                raise ValueError(f"a reconcile run takes no {', '.join(given)}")
        return self


class RunStreamOut(BaseModel):
    """What a run did to one stream of one connection."""

    model_config = ConfigDict(from_attributes=True)

    connection_id: uuid.UUID
    stream: str
    entity: str = Field(description="`asset` or `record`: where the stream's items go.")
    status: RunStatus
    pages: int
    read: int
    inserted: int
    updated: int
    unchanged: int
    deleted: int
    rejected: int
    vendor_calls: int
    rate_limited: int = Field(description="Vendor answers asking to slow down (429, 420).")
    expected: int | None = Field(
        default=None,
        description="Items the stream is expected to read in all, when the vendor reports a "
        "total (for progress; may overcount slightly).",
    )
    error: str | None = Field(description="Why the stream failed, when it did.")
    started_at: datetime | None
    finished_at: datetime | None


class RejectionOut(BaseModel):
    """A vendor item the run refused, and why (kept up to a cap per stream)."""

    model_config = ConfigDict(from_attributes=True)

    connection_id: uuid.UUID
    stream: str
    external_id: str | None
    reason: str
    at: datetime


_RUN_EXAMPLE: dict[str, Any] = {
    "id": _RUN_ID,
    "kind": "sync",
    "connection_id": _CONNECTION_ID,
    "full": True,
    "status": "succeeded",
    "requested_by": "key:ops-editor",
    "created_at": "2026-12-01T09:00:00Z",
    "started_at": "2026-12-01T09:00:01Z",
    "finished_at": "2026-12-01T09:00:09Z",
    "error": None,
    "cancel_requested_at": None,
    "cancelled_by": None,
    "streams": [
        {
            "connection_id": _CONNECTION_ID,
            "stream": "media",
            "entity": "asset",
            "status": "succeeded",
            "pages": 5,
            "read": 500,
            "inserted": 12,
            "updated": 3,
            "unchanged": 484,
            "deleted": 2,
            "rejected": 1,
            "vendor_calls": 6,
            "rate_limited": 1,
            "error": None,
            "started_at": "2026-12-01T09:00:01Z",
            "finished_at": "2026-12-01T09:00:09Z",
        }
    ],
}


class RunOut(BaseModel):
    """A run with its streams' counts."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_RUN_EXAMPLE]})

    id: uuid.UUID
    kind: str
    connection_id: uuid.UUID | None = Field(description="None: a run of every enabled one.")
    full: bool
    status: RunStatus
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None = Field(description="The failed streams and why.")
    cancel_requested_at: datetime | None = Field(
        description="When a cancel was asked; running streams stop at their next page."
    )
    cancelled_by: str | None
    streams: list[RunStreamOut]


class ScoreRuleOut(BaseModel):
    """What a scoring run did under one tag rule."""

    model_config = ConfigDict(from_attributes=True)

    rule_id: uuid.UUID
    rule_version: int
    window_start: str = Field(description="The window's first day (ISO date).")
    window_end: str = Field(description="Its last day: the newest day with a fact.")
    assets: int = Field(description="Live assets scored.")
    changed: int = Field(description="Desired tags written (new, or tag or inputs changed).")
    unchanged: int
    removed: int = Field(description="Desired tags of assets gone from the DAM, deleted.")
    tiers: dict[str, int] = Field(description="Assets per tier concept (and insufficient).")


class RunDetail(RunOut):
    """A run with its streams and the items it refused."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_RUN_EXAMPLE,
                    "rejections": [
                        {
                            "connection_id": _CONNECTION_ID,
                            "stream": "media",
                            "external_id": "8F1A-22",
                            "reason": "data: not JSON (a value of type bytes)",
                            "at": "2026-12-01T09:00:04Z",
                        }
                    ],
                }
            ]
        }
    )

    rejections: list[RejectionOut] = Field(
        description="Items refused, with why (at most 1,000 kept per stream, oldest first)."
    )
    scoring: list[ScoreRuleOut] = Field(
        default_factory=list,
        description="A scoring run: per tag rule, its window and counts (empty for a sync).",
    )
    report: dict[str, Any] | None = Field(
        default=None,
        description="What the run found beyond its streams' counts, when it keeps a report. "
        "A reconciliation: `counts` of drift per kind (`new`, `changed`, `missing`, "
        "`tag_drift`), a few `examples` of each (connection, stream, external id), "
        "`events_queued`, "
        "`writebacks_planned`, the `rereads` (sync run ids of CRM and analytics "
        "connections), `vendor_calls`, and the same per DAM connection in `connections`.",
    )
