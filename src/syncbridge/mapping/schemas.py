"""Request and response bodies of ``/v1/mappings``."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
)

from syncbridge.patch_fields import optional_not_null

Operator = Literal["equals", "in", "prefix", "contains", "regex", "range", "exists"]
#: A value a rule compares with: text, a number, a boolean, or null (an open range bound);
#: checked per operator by :mod:`syncbridge.mapping.rule_validation`.
RuleValue = Any
Key = Annotated[str, StringConstraints(min_length=1, max_length=100)]
# Flags and priorities take JSON booleans and integers only (not 0 for false, "5" for 5).
Flag = StrictBool
Priority = Annotated[StrictInt, Field(ge=-1_000_000, le=1_000_000)]
MAX_VALUES = 1000


#: How deep a preview's sample record may nest (a vendor record is a few levels deep).
MAX_RECORD_DEPTH = 32


def _shallow_and_finite(record: dict[str, Any]) -> dict[str, Any]:
    """Refuse records nested deeper than :data:`MAX_RECORD_DEPTH` or holding NaN/infinity."""
    stack: list[tuple[Any, int]] = [(record, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("numbers must be finite (no NaN or Infinity)")
        children = (
            value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        )
        for child in children:
            if isinstance(child, dict | list) and depth >= MAX_RECORD_DEPTH:
                raise ValueError(f"the record nests deeper than {MAX_RECORD_DEPTH} levels")
            stack.append((child, depth + 1))
    return record


def _finite_values(values: list[Any]) -> list[Any]:
    if any(isinstance(v, float) and not math.isfinite(v) for v in values):
        raise ValueError("numbers must be finite (no NaN or Infinity)")
    return values


RuleValues = Annotated[
    list[RuleValue], Field(max_length=MAX_VALUES), AfterValidator(_finite_values)
]


class _Body(BaseModel):
    # NaN and infinities cannot be compared with and PostgreSQL's JSON cannot store them.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class RuleCreate(_Body):
    """A new rule. ``concept`` is the target concept's key."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    connector_key: Key
    connection_id: uuid.UUID | None = None
    stream: Key | None = None
    field_path: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    operator: Operator
    values: RuleValues = Field(default_factory=list)
    case_sensitive: Flag = False
    match_labels: Flag = False
    concept: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    priority: Priority = 100
    enabled: Flag = True


class DraftRule(RuleCreate):
    """A rule tried in a preview and not saved; ``connector_key`` defaults to the preview's."""

    connector_key: Key | None = None  # type: ignore[assignment]


class RulePatch(_Body):
    """Fields to change; absent fields stay as they are. Only the scope's ``connection_id``
    and ``stream`` may be cleared with null; the schema leaves null out of the others."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = (
        optional_not_null()
    )
    connector_key: Key | None = optional_not_null()
    connection_id: uuid.UUID | None = None
    stream: Key | None = None
    field_path: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = (
        optional_not_null()
    )
    operator: Operator | None = optional_not_null()
    values: RuleValues | None = optional_not_null()
    case_sensitive: Flag | None = optional_not_null()
    match_labels: Flag | None = optional_not_null()
    concept: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = (
        optional_not_null()
    )
    priority: Priority | None = optional_not_null()
    enabled: Flag | None = optional_not_null()


class _RuleContent(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    connector_key: str
    connection_id: uuid.UUID | None
    stream: str | None
    field_path: str
    operator: str
    values: list[Any]
    case_sensitive: bool
    match_labels: bool
    concept_id: uuid.UUID
    concept: str | None = None
    priority: int
    enabled: bool


class RuleOut(_RuleContent):
    """A rule as it is now."""

    id: uuid.UUID
    version: int
    revision: int = Field(
        description="Counts every committed change (new versions and archiving); the ETag."
    )
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime


class RuleVersionOut(_RuleContent):
    """One immutable version of a rule."""

    rule_id: uuid.UUID
    version: int
    created_at: datetime
    created_by: str


class PreviewRequest(_Body):
    """A sample record and where it comes from; optional draft rules to try with it."""

    record: Annotated[dict[str, Any], AfterValidator(_shallow_and_finite)]
    connector_key: Key
    stream: Key | None = None
    connection_id: uuid.UUID | None = None
    draft_rules: Annotated[list[DraftRule], Field(max_length=100)] = Field(default_factory=list)
    include_saved: Flag = Field(default=True, description="Also evaluate the saved rules.")


class PreviewConcept(BaseModel):
    key: str
    pref_label: str | None
    scheme: str | None


class PreviewRule(BaseModel):
    """The rule that matched: a saved rule's id and version, or ``draft-N`` (0-based)."""

    id: str
    version: int | None
    draft: bool


class PreviewMatch(BaseModel):
    concept: PreviewConcept
    rule: PreviewRule
    field_path: str
    matched_value: Any
    priority: int


class PreviewResult(BaseModel):
    """What the record would be classified as; nothing is written."""

    matches: list[PreviewMatch]
    rules_evaluated: int
