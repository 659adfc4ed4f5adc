"""What ``/v1/assets`` answers: asset summaries, one asset with its data, and its trace.

The trace is a set of named sections (``classifications``, ``classification_changes``,
``links``, ``metrics``, ``performance_tags``, ``runs``); write-backs add theirs beside them.
Each section is a :class:`TraceSection`: its newest items, at most ``TRACE_SECTION_MAX``,
and how many there are in all (``metrics`` holds one item per metric, over a window).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from syncbridge.assets.examples import ASSET_EXAMPLE, TRACE_EXAMPLE
from syncbridge.classification.schemas import ClassificationChangeOut
from syncbridge.writeback.schemas import WriteBackOut

T = TypeVar("T")

#: The most items one trace section shows (newest first); ``total`` counts them all.
TRACE_SECTION_MAX = 200

#: Why a run is in an asset's trace.
RunRole = Literal["last_changed", "last_read", "classified", "linked", "scored"]


class ConnectionName(BaseModel):
    """The connection an item came from."""

    id: uuid.UUID
    name: str
    connector_key: str


class ClassifiedConcept(BaseModel):
    """A concept as a classification names it."""

    key: str
    scheme: str
    pref_label: dict[str, str]
    status: str


class AssetSummary(BaseModel):
    """One asset in a list: who it is, where it lives, when it changed."""

    id: uuid.UUID
    connection: ConnectionName
    stream: str
    external_id: str
    #: The asset's name or title in the DAM (from its connector; None when it cannot say).
    name: str | None
    file_name: str | None
    #: Where the asset is seen in the DAM (None where the connector knows no URL).
    dam_url: str | None
    content_hash: str
    vendor_updated_at: datetime | None
    first_seen_at: datetime
    updated_at: datetime
    #: Set when the asset was deleted in the DAM (a tombstone; the row stays).
    deleted_at: datetime | None


class AssetClassification(BaseModel):
    """A concept the asset is on, and whether a rule or a person put it there."""

    concept: ClassifiedConcept
    source: Literal["rule", "manual"]


class AssetOut(AssetSummary):
    """One asset: its identity, its vendor data and the concepts it is classified on."""

    model_config = ConfigDict(json_schema_extra={"examples": [ASSET_EXAMPLE]})

    #: The run that last changed the asset's content, and the last run that read it.
    last_run_id: uuid.UUID | None
    seen_run_id: uuid.UUID | None
    data: dict[str, Any]
    #: One entry per concept and source (a concept matched by several rules shows once).
    classifications: list[AssetClassification]


class TraceRule(BaseModel):
    """The rule (and its version) that produced a classification, a link or a performance
    tag."""

    kind: Literal["mapping", "link", "tag"]
    id: uuid.UUID
    version: int | None
    #: The rule's name at that version (None when the rule is gone or not known here).
    name: str | None


class TraceRecord(BaseModel):
    """A CRM or analytics record, named so a person recognises it."""

    id: uuid.UUID
    connection: ConnectionName
    stream: str
    external_id: str
    #: A short description: the record's name or title, else a few of its fields.
    summary: str | None
    deleted_at: datetime | None


class ClassificationEvidence(BaseModel):
    """What matched: a field of a record (or of the asset's own data) and its value."""

    #: The record whose field matched; None when the asset's own data matched.
    record_id: uuid.UUID | None
    #: That record as stored (None too when it is no longer stored).
    record: TraceRecord | None
    field_path: str | None
    value: Any


class TracedClassification(BaseModel):
    """A classification with its provenance: a rule, its version, the evidence and the run;
    or the person who added it."""

    id: uuid.UUID
    concept: ClassifiedConcept
    source: Literal["rule", "manual"]
    rule: TraceRule | None
    evidence: ClassificationEvidence | None
    #: Who added a manual classification, and why.
    created_by: str | None
    note: str | None
    run_id: uuid.UUID | None
    created_at: datetime
    #: When the provenance last changed (a new rule version, another winning rule).
    updated_at: datetime


class LinkEvidence(BaseModel):
    """The record field that named the asset, and the value found there."""

    field_path: str
    value: str


class TracedLink(BaseModel):
    """A record the asset is linked to, with the rule and the evidence that made the link."""

    id: uuid.UUID
    record: TraceRecord
    rule: TraceRule | None
    evidence: LinkEvidence
    run_id: uuid.UUID | None
    created_at: datetime


class TracedRun(BaseModel):
    """A run that touched the asset, and how (``roles``)."""

    id: uuid.UUID
    kind: str
    status: str
    full: bool
    connection_id: uuid.UUID | None
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    roles: list[RunRole]


class TraceSection(BaseModel, Generic[T]):
    """The newest items of one part of a trace (at most 200), and how many there are."""

    total: int
    items: list[T]


class MetricSource(BaseModel):
    """What one source connection gave a metric over the window."""

    connection: ConnectionName
    #: A count is a JSON integer; an amount of money an exact decimal string.
    value: int | Decimal
    records: int = Field(description="Records the values were computed from (day by day).")
    days: int = Field(description="Days of the window with a value.")
    attribution: Literal["even", "full"] | None = Field(
        description="How deals were credited to their assets (influenced_* metrics only)."
    )


class TracedMetric(BaseModel):
    """One metric of the asset summed over the window, and where it came from."""

    metric: str
    value: int | Decimal = Field(description="The total over the window, every source.")
    days: int = Field(description="Days of the window with a value from any source.")
    sources: list[MetricSource] = Field(description="Per source connection (GA4, a CRM).")


class TraceMetrics(TraceSection[TracedMetric]):
    """The asset's metric facts summed per metric over a window: by default its latest 90
    days of data (day by day: GET /v1/assets/{asset_id}/metrics)."""

    model_config = ConfigDict(populate_by_name=True)

    first: date = Field(alias="from", description="The window's first day.")
    last: date = Field(alias="to", description="The window's last day (included).")


class TracedPerformanceTag(BaseModel):
    """A performance tag the asset should carry under one tag rule, and what it was computed
    from: the rule and its version, the KPI and its smoothing, the cohort and the rank."""

    concept: ClassifiedConcept
    rule: TraceRule
    measure: str | None = Field(
        description="What the rule's version ranks by (None when the version is not stored)."
    )
    kpi: float | None = Field(description="The raw KPI over the window (None: no denominator).")
    smoothed: float | None = Field(description="The value ranked (a rate, smoothed).")
    sample: float = Field(description="The rate's denominator, or a count's days with data.")
    cohort: str
    cohort_size: int = Field(description="Ranked assets in the cohort.")
    percentile: float | None = Field(description="Rank in the cohort (None: too little data).")
    window_start: date
    window_end: date
    run_id: uuid.UUID | None = Field(description="The scoring run that last changed it.")
    computed_at: datetime = Field(
        description="Since when: when the tag, or any input of it, last changed."
    )


class TracedWriteBack(WriteBackOut):
    """A write-back of the asset's owned tags, with the DAM connection it went to."""

    connection: ConnectionName


class AssetIdentity(BaseModel):
    """Who the traced asset is and where to see it."""

    id: uuid.UUID
    connection: ConnectionName
    stream: str
    external_id: str
    name: str | None
    file_name: str | None
    dam_url: str | None
    content_hash: str
    updated_at: datetime
    deleted_at: datetime | None


class AssetTrace(BaseModel):
    """Why an asset carries what it carries: its classifications with their provenance, the
    records linked to it with their evidence, its metrics, its performance tags with their
    inputs, their write-backs into the DAM, and the runs that touched it."""

    model_config = ConfigDict(json_schema_extra={"examples": [TRACE_EXAMPLE]})

    asset: AssetIdentity
    classifications: TraceSection[TracedClassification]
    classification_changes: TraceSection[ClassificationChangeOut] = Field(
        description="Why each classification came, changed its provenance or went, newest "
        "first (all of it: GET /v1/assets/{asset_id}/classifications/history)."
    )
    links: TraceSection[TracedLink]
    metrics: TraceMetrics
    performance_tags: TraceSection[TracedPerformanceTag] = Field(
        description="The performance tags the asset should carry, one per enabled tag rule "
        "that scored it, with their inputs; newest first."
    )
    write_backs: TraceSection[TracedWriteBack] = Field(
        description="Who wrote the asset's owned tags where: each planned change of them in "
        "a DAM, with every attempt (the ledger); newest first (all of them: GET "
        "/v1/writebacks?asset_id=...)."
    )
    runs: TraceSection[TracedRun] = Field(
        description="The run that last changed the asset, the last run that read it, and the "
        "runs named by its classifications, links and performance tags; newest first."
    )


__all__ = [
    "TRACE_SECTION_MAX",
    "AssetClassification",
    "AssetIdentity",
    "AssetOut",
    "AssetSummary",
    "AssetTrace",
    "ClassificationEvidence",
    "ClassifiedConcept",
    "ConnectionName",
    "LinkEvidence",
    "MetricSource",
    "RunRole",
    "TraceMetrics",
    "TraceRecord",
    "TraceRule",
    "TraceSection",
    "TracedClassification",
    "TracedLink",
    "TracedMetric",
    "TracedPerformanceTag",
    "TracedRun",
    "TracedWriteBack",
]
