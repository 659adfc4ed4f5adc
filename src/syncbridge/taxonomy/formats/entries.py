"""The shape of one scheme and one concept in a taxonomy file, shared by YAML and Turtle.

Validated with pydantic (unknown fields refused) and turned into :mod:`document` values;
validation errors become :class:`Problem` items with plain-language reasons.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from syncbridge.taxonomy.document import DEFAULT_LANG, ConceptData, SchemeData
from syncbridge.taxonomy.validation import (
    ConceptKey,
    Description,
    LabelText,
    LangTag,
    SchemeKey,
    Title,
)


class SchemeEntry(BaseModel):
    """The ``scheme:`` block of a file."""

    model_config = ConfigDict(extra="forbid", strict=True)

    key: SchemeKey
    title: Title
    description: Description | None = None

    def to_data(self) -> SchemeData:
        return SchemeData(key=self.key, title=self.title, description=self.description)


class ConceptEntry(BaseModel):
    """One item of ``concepts:``; a bare string label means English."""

    model_config = ConfigDict(extra="forbid", strict=True)

    key: ConceptKey
    pref_label: dict[LangTag, LabelText] = Field(min_length=1)
    alt_labels: dict[LangTag, list[LabelText]] = Field(default_factory=dict)
    definition: Description | None = None
    broader: list[ConceptKey] = Field(default_factory=list)
    status: Literal["draft", "approved", "deprecated"] = "approved"
    replaced_by: ConceptKey | None = None

    @field_validator("pref_label", mode="before")
    @classmethod
    def _bare_pref_label(cls, value: Any) -> Any:
        return {DEFAULT_LANG: value} if isinstance(value, str) else value

    @field_validator("alt_labels", mode="before")
    @classmethod
    def _bare_alt_labels(cls, value: Any) -> Any:
        if value is None:
            return {}
        return {DEFAULT_LANG: value} if isinstance(value, list) else value

    @field_validator("broader", mode="before")
    @classmethod
    def _no_broader(cls, value: Any) -> Any:
        return [] if value is None else value

    def to_data(self, scheme: str) -> ConceptData:
        return ConceptData.build(
            key=self.key,
            scheme=scheme,
            pref_label=self.pref_label,
            alt_labels=self.alt_labels,
            definition=self.definition,
            broader=self.broader,
            status=self.status,
            replaced_by=self.replaced_by,
        )


def explain(error: ValidationError) -> list[tuple[str | None, str]]:
    """Each validation error as (top-level field, reason in plain words)."""
    out: list[tuple[str | None, str]] = []
    for item in error.errors(include_url=False):
        loc = [str(p) for p in item["loc"]]
        top = loc[0] if loc else None
        where = ".".join(loc)
        if item["type"] == "extra_forbidden":
            out.append((top, f"unknown field '{where}'"))
        elif item["type"] == "missing":
            out.append((top, f"missing required field '{where}'"))
        elif item["type"] == "string_pattern_mismatch" and top in ("key", "broader", "replaced_by"):
            out.append((top, f"{where}: {item.get('input')!r} is not a valid key ({item['msg']})"))
        else:
            out.append((top, f"{where}: {item['msg']}" if where else item["msg"]))
    return out
