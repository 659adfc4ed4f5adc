"""Request and response bodies of ``/v1/connections``; secrets are write-only."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: What a present secret field reads as; sent back in a PATCH it keeps the stored value.
SECRET_MASK = "***"


class ConnectionCreate(BaseModel):
    """A new connection: which connector, a unique name and the connector's settings."""

    model_config = ConfigDict(extra="forbid")

    connector: str = Field(min_length=1, max_length=100, description="An installed connector key.")
    name: str = Field(min_length=1, max_length=200)
    settings: dict[str, Any] = Field(
        default_factory=dict, description="Validated by the connector's settings model."
    )
    enabled: bool = True


class ConnectionUpdate(BaseModel):
    """A partial change; ``settings`` is merged into the stored settings.

    A secret field left out, or sent as ``"***"``, keeps its stored value.
    """

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    settings: dict[str, Any] | None = None
    enabled: bool | None = None


class ConnectionOut(BaseModel):
    """A connection as the API shows it: secret fields read ``"***"`` (set) or null (unset)."""

    id: uuid.UUID
    connector: str
    name: str
    settings: dict[str, Any]
    enabled: bool
    secrets_readable: bool = Field(
        description="False when no configured secret key decrypts this connection's secrets."
    )
    revision: int = Field(description="Counts every committed change; the connection's ETag.")
    created_at: datetime
    updated_at: datetime


class CheckStatus(StrEnum):
    """The outcome of a connection check."""

    ok = "ok"
    auth_failed = "auth_failed"
    unreachable = "unreachable"
    error = "error"


class ConnectionCheckOut(BaseModel):
    """What calling the vendor showed: reachable and authorised, with account facts."""

    status: CheckStatus
    detail: str
    account: dict[str, Any] = Field(default_factory=dict)


class UploadOut(BaseModel):
    """An uploaded file, stored whole in the connection's folder."""

    file: str = Field(description="The file's name in the connection's folder.")
    size: int = Field(description="Bytes stored.")
    streams: list[str] = Field(description="The streams whose reads will see the file.")
    details: dict[str, Any] = Field(
        default_factory=dict, description="What the connector noticed (the encoding, rows)."
    )
