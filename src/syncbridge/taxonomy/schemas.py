"""Request and response bodies of ``/v1/taxonomy`` (kept apart from the ORM models)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from syncbridge.patch_fields import optional_not_null
from syncbridge.taxonomy.validation import (
    AltLabels,
    ConceptKey,
    Description,
    PrefLabels,
    SchemeKey,
    Title,
)

EditableStatus = Literal["draft", "approved"]


class SchemeIn(BaseModel):
    """A new concept scheme."""

    model_config = ConfigDict(extra="forbid")

    key: SchemeKey
    title: Title
    description: Description | None = None


class SchemePatch(BaseModel):
    """Changes to a scheme; fields left out stay as they are. The key never changes."""

    model_config = ConfigDict(extra="forbid")

    # Optional, not nullable: a null title is refused (a scheme always has one).
    title: Title | None = optional_not_null()
    description: Description | None = None


class SchemeOut(BaseModel):
    key: str
    title: str
    description: str | None
    concept_count: int
    revision: int = Field(description="Counts every committed change; the scheme's ETag.")
    created_at: datetime
    updated_at: datetime


class ConceptIn(BaseModel):
    """A new concept. Deprecation has its own call (``POST /concepts/{key}/deprecate``)."""

    model_config = ConfigDict(extra="forbid")

    scheme: SchemeKey
    key: ConceptKey
    pref_label: PrefLabels = Field(
        examples=[{"en": "Paid social", "de": "Bezahlte soziale Medien"}]
    )
    alt_labels: AltLabels = Field(default_factory=dict, examples=[{"en": ["PSM", "Social ads"]}])
    definition: Description | None = None
    broader: list[ConceptKey] = Field(default_factory=list)
    status: EditableStatus = "approved"


class ConceptPatch(BaseModel):
    """Changes to a concept; a field given replaces the stored value (maps and lists whole).

    Setting ``status`` to draft or approved on a deprecated concept un-deprecates it.
    """

    model_config = ConfigDict(extra="forbid")

    # Fields that cannot be null are optional but not nullable in the schema.
    pref_label: PrefLabels | None = optional_not_null()
    alt_labels: AltLabels | None = None
    definition: Description | None = None
    broader: list[ConceptKey] | None = optional_not_null()
    status: EditableStatus | None = optional_not_null()


class DeprecateIn(BaseModel):
    """Deprecate a concept; with a replacement, mapping rules move to it."""

    model_config = ConfigDict(extra="forbid")

    replacement: ConceptKey | None = None


class ConceptOut(BaseModel):
    key: str
    scheme: str
    pref_label: dict[str, str]
    alt_labels: dict[str, list[str]]
    definition: str | None
    broader: list[str]
    narrower: list[str]
    status: str
    replaced_by: str | None
    revision: int
    created_at: datetime
    updated_at: datetime


class ConceptNode(BaseModel):
    """A concept in a tree: its narrower concepts nested (one with two broaders shows twice)."""

    key: str
    pref_label: dict[str, str]
    alt_labels: dict[str, list[str]]
    status: str
    narrower: list[ConceptNode]


class ConceptTree(BaseModel):
    """The hierarchy of one scheme, from its top concepts down."""

    scheme: str
    items: list[ConceptNode]


class ConceptChange(BaseModel):
    """One entry of a concept's history (from the audit log)."""

    id: int
    at: datetime
    actor: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class MovedRule(BaseModel):
    id: str
    name: str


class DeprecationOut(BaseModel):
    concept: ConceptOut
    moved_rules: list[MovedRule]


class ImportCounts(BaseModel):
    created: int
    updated: int
    unchanged: int


class ImportReport(BaseModel):
    """What an import did (or, with ``dry_run``, would do)."""

    dry_run: bool
    schemes: ImportCounts
    concepts: ImportCounts
    created: list[str] = Field(description="Keys of the concepts created.")
    updated: list[str] = Field(description="Keys of the concepts updated.")
    moved_rules: list[MovedRule] = Field(
        default_factory=list,
        description="Mapping rules moved to a deprecated concept's replacement.",
    )
