"""Request and response bodies of ``/v1/mappings``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Operator = Literal["equals", "in", "prefix", "contains", "regex", "range", "exists"]
#: A value a rule compares with: text, a number, a boolean, or null (an open range bound);
#: checked per operator by :mod:`syncbridge.mapping.rule_validation`.
RuleValue = Any
Key = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Priority = Annotated[int, Field(ge=-1_000_000, le=1_000_000)]
MAX_VALUES = 1000


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleCreate(_Body):
    """A new rule. ``concept`` is the target concept's key."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    connector_key: Key
    connection_id: uuid.UUID | None = None
    stream: Key | None = None
    field_path: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    operator: Operator
    values: Annotated[list[RuleValue], Field(max_length=MAX_VALUES)] = Field(default_factory=list)
    case_sensitive: bool = False
    match_labels: bool = False
    concept: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    priority: Priority = 100
    enabled: bool = True


class DraftRule(RuleCreate):
    """A rule tried in a preview and not saved; ``connector_key`` defaults to the preview's."""

    connector_key: Key | None = None  # type: ignore[assignment]


class RulePatch(_Body):
    """Fields to change; absent fields stay as they are."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    connector_key: Key | None = None
    connection_id: uuid.UUID | None = None
    stream: Key | None = None
    field_path: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    operator: Operator | None = None
    values: Annotated[list[RuleValue], Field(max_length=MAX_VALUES)] | None = None
    case_sensitive: bool | None = None
    match_labels: bool | None = None
    concept: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    priority: Priority | None = None
    enabled: bool | None = None


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

    record: dict[str, Any]
    connector_key: Key
    stream: Key | None = None
    connection_id: uuid.UUID | None = None
    draft_rules: Annotated[list[DraftRule], Field(max_length=100)] = Field(default_factory=list)
    include_saved: bool = Field(default=True, description="Also evaluate the saved rules.")


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
