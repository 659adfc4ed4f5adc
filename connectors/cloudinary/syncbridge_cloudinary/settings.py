"""Settings of one Cloudinary connection."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from syncbridge.connector.ratelimit import RateLimitPolicy
from syncbridge.connector.spec import ConnectorSettings, VendorUrl

ResourceType = Literal["image", "video", "raw"]


def _all_types() -> list[ResourceType]:
    return ["image", "video", "raw"]


class CloudinarySettings(ConnectorSettings):
    """A Cloudinary product environment: where it is, how to sign, what syncbridge owns."""

    base_url: VendorUrl = Field(
        default="https://api.cloudinary.com",
        description="API host; Admin and Upload API calls go to {base_url}/v1_1/{cloud_name}/...",
    )
    cloud_name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    api_key: str = Field(min_length=1)
    api_secret: SecretStr
    resource_types: list[ResourceType] = Field(default_factory=_all_types, min_length=1)
    page_size: int = Field(default=500, ge=1, le=500, description="Admin API max_results.")
    tag_prefix: str = Field(default="perf:", min_length=1)
    #: Write-back plans and records in its ledger what it would write, and sends nothing.
    dry_run: bool = Field(
        default=False,
        description="Write-back records what it would write here and sends nothing.",
    )
    owned_metadata_field: str | None = Field(
        default=None,
        description="External id of a structured metadata field syncbridge may set.",
    )
    owned_context_keys: list[str] = Field(
        default_factory=list,
        description="Contextual metadata keys syncbridge may set (values from the change's "
        "metadata under the same key); other context keys are never sent.",
    )
    signature_algorithm: Literal["sha1", "sha256"] = Field(
        default="sha1", description="The account's signature algorithm for Upload API calls."
    )
    notification_signature_algorithm: Literal["sha1", "sha256"] = "sha1"
    notification_max_age_s: int = Field(default=7200, ge=60)
    admin_rate_limit_per_hour: int = Field(
        default=500, ge=1, description="The plan's hourly Admin API budget (Free: 500)."
    )
    upload_rate_limit_per_hour: int = Field(
        default=5000,
        ge=1,
        description="Client-side cap on Upload API calls (not counted in the Admin budget).",
    )

    @field_validator("resource_types")
    @classmethod
    def _distinct(cls, value: list[ResourceType]) -> list[ResourceType]:
        if len(set(value)) != len(value):
            raise ValueError("resource types must be distinct")
        return value

    @field_validator("owned_context_keys")
    @classmethod
    def _context_keys(cls, value: list[str]) -> list[str]:
        for key in value:
            if not key.strip() or any(c in key for c in "=|\\"):
                raise ValueError(f"not a context key: {key!r} (no '=', '|' or '\\', not blank)")
        if len(set(value)) != len(value):
            raise ValueError("context keys must be distinct")
        return value

    @model_validator(mode="after")
    def _one_owner_per_key(self) -> CloudinarySettings:
        if self.owned_metadata_field in self.owned_context_keys:
            raise ValueError("a key cannot be both the owned metadata field and a context key")
        return self

    def admin_rate_policy(self) -> RateLimitPolicy:
        """The Admin API budget, adapted at run time from ``X-FeatureRateLimit-*``."""
        return RateLimitPolicy(
            max_requests=self.admin_rate_limit_per_hour,
            period_s=3600.0,
            header_style="cloudinary",
        )

    def upload_rate_policy(self) -> RateLimitPolicy:
        """The Upload API's own pace: it sends no limit headers."""
        return RateLimitPolicy(max_requests=self.upload_rate_limit_per_hour, period_s=3600.0)


__all__ = ["CloudinarySettings", "ResourceType"]
