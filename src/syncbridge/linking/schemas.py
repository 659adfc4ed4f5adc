"""Request and response bodies of ``/v1/link-rules``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints

from syncbridge.patch_fields import optional_not_null

Match = Literal["equals", "contains", "path_segment", "url_path", "query_parameter"]
AssetKey = Literal["id", "file_name", "cdn_path", "record"]
Key = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Path = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Parameter = Annotated[str, StringConstraints(min_length=1, max_length=200)]

MATCH_DESCRIPTION = (
    "How the field value is read: `equals` (the whole value), `contains` (a whole token "
    "between URL or list separators), `path_segment` (a segment of its URL path), "
    "`url_path` (its whole URL path), `query_parameter` (the URL's `parameter`)."
)
ASSET_KEY_DESCRIPTION = (
    "What of the asset the value names: `id` (its id; UUIDs with or without hyphens), "
    "`file_name`, `cdn_path` (the path of its CDN or derivative URL), or `record` (a record "
    "of `via_stream` in the same connection, whose links this record takes on)."
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LinkRuleCreate(_Body):
    """A new link rule: which records it reads (connector, optional connection and stream),
    the field holding the evidence, how the value is read and what of the asset it names."""

    name: Name | None = None
    connector_key: Key
    connection_id: uuid.UUID | None = None
    stream: Key | None = None
    field_path: Path
    match: Match = Field(default="equals", description=MATCH_DESCRIPTION)
    parameter: Parameter | None = None
    asset_key: AssetKey = Field(description=ASSET_KEY_DESCRIPTION)
    via_stream: Key | None = None
    asset_connector_key: Key | None = Field(
        default=None, description="Only assets of this DAM connector (default: every DAM)."
    )
    enabled: StrictBool = True


class LinkRulePatch(_Body):
    """Fields to change; absent fields stay. Only the optional scope and match settings
    (``connection_id``, ``stream``, ``parameter``, ``via_stream``, ``asset_connector_key``)
    may be cleared with null."""

    name: Name | None = optional_not_null()
    connector_key: Key | None = optional_not_null()
    connection_id: uuid.UUID | None = None
    stream: Key | None = None
    field_path: Path | None = optional_not_null()
    match: Match | None = optional_not_null()
    parameter: Parameter | None = None
    asset_key: AssetKey | None = optional_not_null()
    via_stream: Key | None = None
    asset_connector_key: Key | None = None
    enabled: StrictBool | None = optional_not_null()


class _RuleContent(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    connector_key: str
    connection_id: uuid.UUID | None
    stream: str | None
    field_path: str
    match: str
    parameter: str | None
    asset_key: str
    via_stream: str | None
    asset_connector_key: str | None
    enabled: bool


class LinkRuleOut(_RuleContent):
    """A link rule as it is now."""

    id: uuid.UUID
    version: int
    revision: int = Field(
        description="Counts every committed change (new versions and archiving); the ETag."
    )
    default_key: str | None = Field(
        description="Set on the default rules loaded at first start (their key in the file)."
    )
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime


class LinkRuleVersionOut(_RuleContent):
    """One immutable version of a link rule."""

    rule_id: uuid.UUID
    version: int
    created_at: datetime
    created_by: str


class LinkPreviewRequest(_Body):
    """Rules to dry-run over the stored assets and records: drafts, saved rules by id, or
    (neither given) every enabled saved rule. Nothing is written."""

    draft_rules: Annotated[list[LinkRuleCreate], Field(max_length=20)] = Field(default_factory=list)
    rule_ids: Annotated[list[uuid.UUID], Field(max_length=100)] = Field(default_factory=list)
    max_records: Annotated[StrictInt, Field(ge=1, le=100_000)] = Field(
        default=10_000, description="Records read at most (the first by id in the rules' scope)."
    )
    examples: Annotated[StrictInt, Field(ge=0, le=50)] = 5


class PreviewRule(BaseModel):
    """A saved rule's id and version, or ``draft-N`` (0-based) for draft N."""

    id: str
    version: int | None
    draft: bool
    name: str


class PreviewLink(BaseModel):
    asset_id: uuid.UUID
    asset_external_id: str
    asset_connection_id: uuid.UUID
    record_id: uuid.UUID
    record_external_id: str
    record_connection_id: uuid.UUID
    record_stream: str
    field_path: str
    value: str


class PreviewRuleResult(BaseModel):
    """What one rule would link: counts over the records read, and a few examples."""

    rule: PreviewRule
    links: int
    records: int = Field(description="Records with at least one link by this rule.")
    assets: int = Field(description="Distinct assets linked by this rule.")
    examples: list[PreviewLink]


class LinkPreviewResult(BaseModel):
    """The links the rules would find; nothing is written."""

    rules: list[PreviewRuleResult]
    records_read: int
    assets_indexed: int
    truncated: bool = Field(description="True when more records were in scope than read.")
