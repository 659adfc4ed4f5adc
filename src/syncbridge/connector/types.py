"""Plain value types that cross the connector boundary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal


class SystemKind(StrEnum):
    crm = "crm"
    analytics = "analytics"
    dam = "dam"


class Capability(StrEnum):
    read = "read"
    incremental = "incremental"
    webhooks = "webhooks"
    write_back = "write_back"
    #: Takes files pushed to it (``POST /v1/connections/{id}/uploads``): see ``AcceptsUploads``.
    uploads = "uploads"


@dataclass(frozen=True)
class StreamSpec:
    """One stream a connector can read, e.g. ``media`` (Bynder) or ``deals`` (HubSpot)."""

    name: str
    primary_key: str
    #: The record field the incremental cursor follows; None when only full reads exist.
    cursor_field: str | None = None
    #: ``asset`` for DAM items, ``record`` for CRM/analytics items.
    entity: Literal["asset", "record"] = "record"


@dataclass(frozen=True)
class Record:
    """One vendor item as plain data: an asset (DAM) or a record (CRM, analytics)."""

    stream: str
    external_id: str
    data: Mapping[str, Any]
    updated_at: datetime | None = None
    deleted: bool = False


@dataclass(frozen=True)
class Page:
    """One page of a read, and the cursor to resume *after* it (None: the stream is done)."""

    records: list[Record]
    next_cursor: str | None


@dataclass(frozen=True)
class Ref:
    """A pointer to one vendor item, for ``fetch``."""

    stream: str
    external_id: str


@dataclass(frozen=True)
class WebhookEvent:
    """A thin, verified event: something changed; fetch it to learn what."""

    #: Unique per delivery (vendor message id or a hash of identifying fields): the inbox key.
    delivery_key: str
    stream: str
    external_id: str | None
    #: ``created``, ``updated``, ``deleted``, ...; vendor-specific names are normalised here.
    action: str
    occurred_at: datetime | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TagChange:
    """Change the syncbridge-owned tags of one asset.

    ``desired`` is the full set of owned tags the asset should carry after the write;
    ``add``/``remove`` are the diff against what the DAM held when it was planned. Tags that
    syncbridge does not own are never touched.
    """

    stream: str
    external_id: str
    desired: frozenset[str]
    add: frozenset[str] = frozenset()
    remove: frozenset[str] = frozenset()
    #: Owned metadata to set (Bynder metaproperty, Cloudinary structured metadata field or
    #: context keys): only keys the connection's settings name as owned are written.
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WriteOutcome:
    """What happened to one ``TagChange``."""

    external_id: str
    #: ``applied`` (done), ``accepted`` (queued by the vendor, e.g. Bynder's 202),
    #: ``skipped`` (nothing to change) or ``failed``.
    status: Literal["applied", "accepted", "skipped", "failed"]
    detail: str | None = None
    retryable: bool = False


@dataclass(frozen=True)
class UploadReceipt:
    """What a connector made of an uploaded file: where it lies and which streams read it."""

    file: str
    size: int
    streams: tuple[str, ...]
    #: Facts worth showing the uploader (the detected encoding, the row count...).
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    """The answer of ``Connector.check()``: reachable and authorised, with account facts."""

    ok: bool
    detail: str
    account: Mapping[str, Any] = field(default_factory=dict)
