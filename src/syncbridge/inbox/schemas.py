"""Views of the inbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

EventStatusParam = Literal["pending", "handled", "dead"]


class EventOut(BaseModel):
    """One webhook event as the inbox holds it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    connection_id: uuid.UUID
    delivery_key: str = Field(description="The vendor's delivery id (unique per connection).")
    stream: str
    external_id: str | None
    action: str = Field(description="created, updated, deleted... as the connector named it.")
    occurred_at: datetime | None
    payload: dict[str, Any]
    status: EventStatusParam
    attempts: int = Field(description="Processing attempts that failed (reset by a replay).")
    last_error: str | None
    outcome: str | None = Field(description="What handling did (fetched, tombstoned...).")
    received_at: datetime
    handled_at: datetime | None
    run_id: uuid.UUID | None = Field(description="The events run that applied it.")
    replays: int


class ReplayRequest(BaseModel):
    """Which events to replay at once: dead ones, optionally of one connection or type."""

    model_config = ConfigDict(extra="forbid")

    connection_id: uuid.UUID | None = None
    action: str | None = Field(default=None, max_length=50)
    received_from: AwareDatetime | None = Field(default=None, strict=True)
    received_to: AwareDatetime | None = Field(default=None, strict=True)


class ReplayResult(BaseModel):
    replayed: int = Field(description="Events made pending again and queued for processing.")


class WebhookAccepted(BaseModel):
    """The answer to a delivery that was verified and committed."""

    received: int = Field(description="Events the delivery carried.")
    new: int = Field(description="Events the inbox did not hold yet (the rest are redeliveries).")
