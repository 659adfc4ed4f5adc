"""Request and response bodies of ``/v1/tag-rules``.

The rule's parts (KPI, smoothing, tiers, targets) are tagged unions: ``type`` tells a count
from a rate, ``method`` one smoothing from the other, ``mode`` how tags land in a DAM.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)

from syncbridge.patch_fields import optional_not_null
from syncbridge.tagging import examples

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Key = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Metric = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Prefix = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=r"^\S+$")]
VendorName = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Percentile = Annotated[float, Field(ge=0, le=100)]
WindowDays = Annotated[StrictInt, Field(ge=1, le=365)]
MinSample = Annotated[StrictInt, Field(ge=1, le=1_000_000_000)]

#: The default tag a tier lands as: this prefix and the tier concept's key after ``perf:``.
DEFAULT_PREFIX = "perf:"
DEFAULT_INSUFFICIENT = "perf:insufficient-data"

METRIC_DESCRIPTION = "A metric of the metric facts (see `GET /v1/assets/{id}/metrics`)."
MIN_SAMPLE_DESCRIPTION = (
    "Below this an asset is not ranked and gets `insufficient_concept`: for a rate, the "
    "denominator's total over the window (for example 100 views); for a count, the number "
    "of days in the window with data for the metric."
)
TIERS_DESCRIPTION = (
    "Percentile-rank tiers within a cohort, covering 0 to 100 exactly with no gap or "
    "overlap. A tier holds the ranks at or above `from_percentile` and below `to_percentile` "
    "(the top tier includes 100). Each concept is a live concept of the `performance-tier` "
    "scheme."
)
TARGETS_DESCRIPTION = (
    "Per DAM connection (Bynder, Cloudinary or a local folder), how the tags land. An empty "
    "list means every DAM connection, as owned prefixed tags (`perf:top-10`; XMP keywords for "
    "a local folder)."
)
COHORT_DESCRIPTION = (
    "Taxonomy scheme keys: assets with the same concepts of these schemes are ranked "
    "together (an empty list ranks every asset together)."
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- KPI and smoothing ---------------------------------------------------------------------


class CountKpi(_Body):
    """A count: the metric's total over the window (for example influenced revenue)."""

    type: Literal["count"]
    metric: Metric = Field(description=METRIC_DESCRIPTION)


class RateKpi(_Body):
    """A rate: one metric's total per another's (for example key events per view)."""

    type: Literal["rate"]
    numerator: Metric = Field(description=METRIC_DESCRIPTION)
    denominator: Metric = Field(description=METRIC_DESCRIPTION)


Kpi = Annotated[CountKpi | RateKpi, Field(discriminator="type")]


class WilsonSmoothing(_Body):
    """Rank a rate by the lower bound of its Wilson score interval: few trials, low bound."""

    method: Literal["wilson"]
    confidence: float = Field(default=0.95, ge=0.5, lt=1)


class BayesSmoothing(_Body):
    """Rank a rate by its Bayesian average: ``prior_weight`` trials at the cohort's rate
    are added to the asset's own."""

    method: Literal["bayes"]
    prior_weight: float = Field(gt=0, le=1_000_000_000)


Smoothing = Annotated[WilsonSmoothing | BayesSmoothing, Field(discriminator="method")]


class Tier(_Body):
    """One percentile band and the concept its assets get."""

    concept: Key
    from_percentile: Percentile
    to_percentile: Percentile


# --- targets -------------------------------------------------------------------------------


class _Target(_Body):
    connection_id: uuid.UUID


class TagsTarget(_Target):
    """Owned tags: the prefix and the tier concept's key after ``perf:`` (``perf:top-10``).
    Bynder and Cloudinary."""

    mode: Literal["tags"]
    prefix: Prefix = DEFAULT_PREFIX


class BynderMetapropertyTarget(_Target):
    """The tier as an option of a Bynder metaproperty that syncbridge owns (by name)."""

    mode: Literal["bynder_metaproperty"]
    metaproperty: VendorName


class CloudinaryMetadataTarget(_Target):
    """The tier in a Cloudinary structured-metadata field that syncbridge owns (its
    external id)."""

    mode: Literal["cloudinary_metadata"]
    field: VendorName


class CloudinaryContextTarget(_Target):
    """The tier as a Cloudinary contextual-metadata key that syncbridge owns."""

    mode: Literal["cloudinary_context"]
    key: VendorName


class XmpKeywordsTarget(_Target):
    """Owned prefixed XMP keywords in the sidecar files of a local folder."""

    mode: Literal["xmp_keywords"]
    prefix: Prefix = DEFAULT_PREFIX


Target = Annotated[
    TagsTarget
    | BynderMetapropertyTarget
    | CloudinaryMetadataTarget
    | CloudinaryContextTarget
    | XmpKeywordsTarget,
    Field(discriminator="mode"),
]


# --- rules ---------------------------------------------------------------------------------


class TagRuleCreate(_Body):
    """A new tag rule: over which window, in which cohorts, which KPI ranks assets, from
    what sample on, into which tiers, and where the tags land."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.CREATE]})

    name: Name | None = None
    window_days: WindowDays = Field(description="Days of metric facts read (1 to 365).")
    cohort_by: Annotated[list[Key], Field(max_length=5)] = Field(
        default_factory=list, description=COHORT_DESCRIPTION
    )
    kpi: Kpi
    smoothing: Smoothing | None = Field(
        default=None,
        description="Only for a rate (absent: Wilson at 0.95); a count takes none.",
    )
    min_sample: MinSample = Field(description=MIN_SAMPLE_DESCRIPTION)
    tiers: Annotated[list[Tier], Field(min_length=1, max_length=20)] = Field(
        description=TIERS_DESCRIPTION
    )
    insufficient_concept: Key = Field(
        default=DEFAULT_INSUFFICIENT,
        description="What an asset below the minimum sample gets (a `performance-tier` concept).",
    )
    targets: Annotated[list[Target], Field(max_length=100)] = Field(
        default_factory=list, description=TARGETS_DESCRIPTION
    )
    enabled: StrictBool = True


class TagRulePatch(_Body):
    """Fields to change; absent fields stay; lists are replaced whole. Only ``smoothing``
    may be cleared with null (a count takes none)."""

    model_config = ConfigDict(json_schema_extra={"examples": [*examples.PATCHES]})

    name: Name | None = optional_not_null()
    window_days: WindowDays | None = optional_not_null()
    cohort_by: Annotated[list[Key], Field(max_length=5)] | None = optional_not_null()
    kpi: Kpi | None = optional_not_null()
    smoothing: Smoothing | None = None
    min_sample: MinSample | None = optional_not_null()
    tiers: Annotated[list[Tier], Field(min_length=1, max_length=20)] | None = optional_not_null()
    insufficient_concept: Key | None = optional_not_null()
    targets: Annotated[list[Target], Field(max_length=100)] | None = optional_not_null()
    enabled: StrictBool | None = optional_not_null()


class _RuleContent(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    window_days: int
    cohort_by: list[str]
    kpi: dict[str, Any]
    smoothing: dict[str, Any] | None
    min_sample: int
    tiers: list[dict[str, Any]]
    insufficient_concept: str
    targets: list[dict[str, Any]]
    enabled: bool


class TagRuleOut(_RuleContent):
    """A tag rule as it is now."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [examples.RULE]})

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


class TagRuleVersionOut(_RuleContent):
    """One immutable version of a tag rule."""

    model_config = ConfigDict(
        from_attributes=True, json_schema_extra={"examples": [examples.VERSION]}
    )

    rule_id: uuid.UUID
    version: int
    created_at: datetime
    created_by: str


# --- previews ------------------------------------------------------------------------------


class TagRulePreviewRequest(_Body):
    """A rule to dry-run over the current metric facts before anything is saved: a new rule
    (``rule``), or a saved rule (``rule_id``) with ``changes`` applied as PATCH would apply
    them (none: the rule as saved, over today's facts)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"rule": examples.CREATE},
                {"rule_id": examples.RULE["id"], "changes": examples.PATCHES[0]},
            ]
        },
    )

    rule: TagRuleCreate | None = None
    rule_id: uuid.UUID | None = None
    changes: TagRulePatch | None = None
    examples: Annotated[StrictInt, Field(ge=0, le=20)] = Field(
        default=3, description="Example assets per tag and kind of change (gain, keep, lose)."
    )

    @model_validator(mode="after")
    def _one_rule(self) -> TagRulePreviewRequest:
        if (self.rule is None) == (self.rule_id is None):
            raise ValueError("give either rule (a new rule) or rule_id (a saved one)")
        if self.changes is not None and self.rule_id is None:
            raise ValueError("changes apply to a saved rule: give rule_id")
        return self


Change = Literal["gain", "keep", "lose"]


class PreviewAsset(BaseModel):
    """An asset whose tag the rule would give, keep or take away, and the new inputs."""

    asset_id: uuid.UUID
    connection_id: uuid.UUID
    external_id: str
    change: Change
    concept_before: str | None = Field(description="Its desired tag under the rule now.")
    concept_after: str | None = Field(description="Its tag under the previewed rule.")
    cohort: str | None
    cohort_size: int | None
    sample: float | None
    kpi: float | None
    smoothed: float | None
    percentile: float | None


class PreviewTag(BaseModel):
    """One tag: how many assets would gain it, keep it or lose it."""

    concept: str
    gain: int
    keep: int
    lose: int
    after: int = Field(description="Assets that would carry it (gain + keep).")
    examples: list[PreviewAsset]


class TagRulePreview(BaseModel):
    """What the rule would tag, against its current desired tags (none for a new rule)."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.PREVIEW]})

    rule_id: uuid.UUID | None
    version: int | None = Field(
        description="The saved version the preview is compared with (None: a new rule)."
    )
    name: str
    window_start: date
    window_end: date = Field(description="The newest day with a fact of the rule's metrics.")
    assets: int = Field(description="Live assets scored.")
    changing: int = Field(description="Assets whose tag would change (or go).")
    tags: list[PreviewTag] = Field(
        description="The rule's tiers, its insufficient concept, then any tag only the "
        "current desired tags have."
    )


__all__ = [
    "BayesSmoothing",
    "BynderMetapropertyTarget",
    "Change",
    "CloudinaryContextTarget",
    "CloudinaryMetadataTarget",
    "CountKpi",
    "PreviewAsset",
    "PreviewTag",
    "RateKpi",
    "TagRuleCreate",
    "TagRuleOut",
    "TagRulePatch",
    "TagRulePreview",
    "TagRulePreviewRequest",
    "TagRuleVersionOut",
    "TagsTarget",
    "Tier",
    "WilsonSmoothing",
    "XmpKeywordsTarget",
]
