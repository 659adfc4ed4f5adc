"""Response bodies of ``/v1/writebacks``: a write-back and its ledger of attempts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from syncbridge.models import WriteBack, WriteBackAttempt


class WriteBackAttemptOut(BaseModel):
    """One attempt (a ledger row): what was sent, or with ``dry_run`` what would have been,
    and what the vendor said."""

    attempt: int = Field(description="The attempt's number, from 1.")
    at: datetime
    added: list[str] = Field(description="Owned tags added.")
    removed: list[str] = Field(description="Owned tags removed.")
    metadata: dict[str, Any] = Field(description="Owned metadata set (null: cleared).")
    vendor_status: str = Field(
        description="`applied`, `accepted` (queued by the vendor), `unchanged` (the DAM "
        "already held it: nothing sent), `skipped` (the connector found nothing to change), "
        "`failed`, or `dry_run` (recorded, not sent)."
    )
    error: str | None = Field(description="The vendor's message when it failed.")
    dry_run: bool


class WriteBackOut(BaseModel):
    """One planned change of owned tags on one asset in one DAM, with every attempt."""

    id: uuid.UUID
    asset_id: uuid.UUID
    connection_id: uuid.UUID
    version: int = Field(description="The desired-tag version of the asset in this DAM.")
    status: str = Field(
        description="`pending`, `sending`, `done`, `dead` (refused, or out of attempts: see "
        "`last_error`) or `superseded` (a newer version was planned before it was sent)."
    )
    attempts: int
    run_after: datetime
    desired_tags: list[str] = Field(description="The owned tags the asset should carry.")
    desired_metadata: dict[str, Any] = Field(description="Owned metadata (null: cleared).")
    planned_add: list[str] = Field(description="Against what was last confirmed, when planned.")
    planned_remove: list[str]
    planned_metadata: dict[str, Any]
    run_id: uuid.UUID | None = Field(description="The scoring run that planned it.")
    dry_run: bool
    vendor_status: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    ledger: list[WriteBackAttemptOut] = Field(description="Every attempt, oldest first.")


def attempt_view(row: WriteBackAttempt) -> WriteBackAttemptOut:
    return WriteBackAttemptOut(
        attempt=row.attempt,
        at=row.at,
        added=list(row.added),
        removed=list(row.removed),
        metadata=dict(row.metadata_set),
        vendor_status=row.vendor_status,
        error=row.error,
        dry_run=row.dry_run,
    )


def writeback_view(row: WriteBack, ledger: Sequence[WriteBackAttemptOut]) -> WriteBackOut:
    return WriteBackOut(
        id=row.id,
        asset_id=row.asset_id,
        connection_id=row.connection_id,
        version=row.version,
        status=row.status,
        attempts=row.attempts,
        run_after=row.run_after,
        desired_tags=list(row.desired_tags),
        desired_metadata=dict(row.desired_metadata),
        planned_add=list(row.planned_add),
        planned_remove=list(row.planned_remove),
        planned_metadata=dict(row.planned_metadata),
        run_id=row.run_id,
        dry_run=row.dry_run,
        vendor_status=row.vendor_status,
        last_error=row.last_error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        ledger=list(ledger),
    )


__all__ = ["WriteBackAttemptOut", "WriteBackOut", "attempt_view", "writeback_view"]
