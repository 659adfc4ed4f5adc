"""Request and response bodies of ``/v1/assets/{asset_id}/classifications``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ClassificationChangeOut",
    "ClassificationOut",
    "ConceptRef",
    "ManualClassificationIn",
    "ProvenanceOut",
]


class ManualClassificationIn(BaseModel):
    """A person puts an asset on a concept."""

    model_config = ConfigDict(extra="forbid")

    concept: str = Field(
        min_length=1,
        max_length=200,
        description="The concept's key (`channel:email`) or id.",
        examples=["channel:email"],
    )
    note: str | None = Field(default=None, max_length=2000, description="Why, for the trace.")


class ConceptRef(BaseModel):
    """The concept a classification lands on."""

    id: uuid.UUID
    key: str
    pref_label: str | None = None
    scheme: str | None = None
    status: str


class ProvenanceOut(BaseModel):
    """Which rule (and version) matched which field value, on the asset or a linked record,
    with the data of which run."""

    rule_id: uuid.UUID | None
    rule_version: int | None
    #: None: the asset's own data matched.
    record_id: uuid.UUID | None
    field_path: str | None
    value: Any
    run_id: uuid.UUID | None


class ClassificationOut(BaseModel):
    """One asset on one concept, by a rule (with ``provenance``) or a person (``created_by``)."""

    id: uuid.UUID
    asset_id: uuid.UUID
    concept: ConceptRef
    source: Literal["rule", "manual"]
    provenance: ProvenanceOut | None
    created_by: str | None
    note: str | None
    created_at: datetime
    updated_at: datetime


class ClassificationChangeOut(BaseModel):
    """A classification came, changed its provenance, or went; and why."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    concept_id: uuid.UUID
    concept_key: str
    change: Literal["added", "changed", "removed"]
    source: Literal["rule", "manual"]
    reason: str
    rule_id: uuid.UUID | None
    rule_version: int | None
    record_id: uuid.UUID | None
    run_id: uuid.UUID | None
    job_id: uuid.UUID | None
    actor: str | None
    at: datetime
