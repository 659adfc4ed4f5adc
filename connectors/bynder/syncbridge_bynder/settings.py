"""Settings of one Bynder connection."""

from __future__ import annotations

import re

import re2
from pydantic import Field, SecretStr, field_validator

from syncbridge.connector.spec import ConnectorSettings, VendorUrl
from syncbridge_bynder.sns import DEFAULT_CERT_HOSTS


class BynderSettings(ConnectorSettings):
    """A Bynder portal, its permanent token, what syncbridge owns there, and SNS webhooks."""

    #: The portal origin, e.g. https://acme.bynder.com; a path prefix is kept (a sandbox
    #: simulator mounted at, say, http://127.0.0.1:8000/sandbox/bynder).
    base_url: VendorUrl = Field(description="The portal, e.g. https://acme.bynder.com")
    permanent_token: SecretStr
    tag_prefix: str = Field(default="perf:", min_length=1)
    #: Write-back plans and records in its ledger what it would write, and sends nothing.
    dry_run: bool = Field(
        default=False,
        description="Write-back records what it would write here and sends nothing.",
    )
    #: The metaproperty syncbridge owns (its options carry the performance tier), if any.
    owned_metaproperty_id: str | None = None
    page_size: int = Field(default=100, ge=1, le=1000)
    #: An incremental read lists again this many seconds before its watermark (media Bynder's
    #: index shows late); media already read there are dropped, so nothing comes back twice.
    incremental_lookback_s: float = Field(default=10.0, ge=0, le=3600)
    #: SNS topics whose deliveries are accepted; empty refuses every delivery.
    sns_topic_arns: list[str] = Field(default_factory=list)
    #: A PEM certificate used instead of fetching ``SigningCertURL`` (tests and sandbox only).
    sns_pinned_cert_pem: str | None = None
    #: Host patterns (full match) a signing certificate may be fetched from.
    sns_allow_cert_hosts: list[str] = Field(default_factory=lambda: list(DEFAULT_CERT_HOSTS))
    sns_max_age_s: float = Field(default=3600.0, gt=0, le=86_400)
    #: Bynder recommends waiting 2-5 s after a webhook before re-reading the asset.
    fetch_delay_s: float = Field(default=3.0, ge=0, le=300)
    rate_limit_requests: int = Field(default=4500, ge=1)
    rate_limit_period_s: float = Field(default=300.0, gt=0, le=86_400)
    #: After a 429 Bynder blocks the IP until it has been quiet this long.
    rate_limit_block_s: float = Field(default=300.0, ge=0, le=86_400)

    @field_validator("base_url")
    @classmethod
    def _portal_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", value):
            raise ValueError("base_url must be the portal URL, e.g. https://acme.bynder.com")
        return value.rstrip("/")

    @field_validator("permanent_token")
    @classmethod
    def _token_fits_a_header(cls, value: SecretStr) -> SecretStr:
        # It travels as "Authorization: Bearer <token>"; the HTTP library refuses a header
        # with control characters in an error that quotes the whole value.
        if re.search(r"[\x00-\x1f\x7f]", value.get_secret_value()):
            raise ValueError("must not contain control characters (line breaks, tabs, NUL)")
        return value

    @field_validator("sns_allow_cert_hosts")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                # RE2 (linear time): the pattern runs on unauthenticated input.
                re2.compile(pattern)
            except re2.error as exc:
                raise ValueError(f"not a regular expression RE2 can run: {pattern!r}") from exc
        return value


__all__ = ["BynderSettings"]
