"""Settings of one GA4 connection: the property, the service account, and the reports to read."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from syncbridge.connector.spec import ConnectorSettings, VendorUrl
from syncbridge_ga4.service_account import GOOGLE_TOKEN_URIS, ServiceAccountKey

DEFAULT_BASE_URL = "https://analyticsdata.googleapis.com"
#: GA4's ceiling of rows per runReport request.
MAX_PAGE_SIZE = 250_000
#: GA4's ceilings of dimensions and metrics per request.
MAX_DIMENSIONS = 9
MAX_METRICS = 10
#: The earliest date GA4 accepts in a date range.
FIRST_GA4_DATE = date(2015, 8, 14)
#: A dimension or metric API name: ``pagePath``, ``customEvent:asset_id``, ``keyEvents:purchase``.
API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}(:[A-Za-z0-9_]{1,100})?")
STREAM_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
#: A dimension filter is a GA4 FilterExpression; bounded so a setting cannot be a bomb.
MAX_FILTER_BYTES = 16 * 1024
MAX_FILTER_DEPTH = 12

ASSET_PERFORMANCE_DIMENSIONS = (
    "date",
    "pagePath",
    "sessionCampaignName",
    "sessionSourceMedium",
    "customEvent:asset_id",
)
ASSET_PERFORMANCE_METRICS = (
    "screenPageViews",
    "sessions",
    "eventCount",
    "keyEvents",
    "totalRevenue",
)


class ReportSettings(BaseModel):
    """One stream: a runReport of these dimensions and metrics, one record per row."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    #: Must include ``date``: a record is one day of one combination of the other values.
    dimensions: list[str] = Field(min_length=1, max_length=MAX_DIMENSIONS)
    metrics: list[str] = Field(min_length=1, max_length=MAX_METRICS)
    #: A GA4 ``FilterExpression`` (JSON), sent as the request's ``dimensionFilter``.
    dimension_filter: dict[str, Any] | None = None
    #: Also return rows whose metrics are all zero (GA4 ``keepEmptyRows``).
    keep_empty_rows: bool = False

    @field_validator("dimensions", "metrics")
    @classmethod
    def _api_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not API_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a GA4 API name such as pagePath")
        if len(set(names)) != len(names):
            raise ValueError("names must not repeat")
        return names

    @field_validator("dimensions")
    @classmethod
    def _has_date(cls, names: list[str]) -> list[str]:
        if "date" not in names:
            raise ValueError("must include 'date' (records are per day)")
        return names

    @field_validator("dimension_filter")
    @classmethod
    def _bounded_filter(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        # Depth first: it is bounded, and serialising a deep value would recurse.
        if _depth(value) > MAX_FILTER_DEPTH:
            raise ValueError(f"is nested deeper than {MAX_FILTER_DEPTH} levels")
        if len(json.dumps(value)) > MAX_FILTER_BYTES:
            raise ValueError(f"is larger than {MAX_FILTER_BYTES} bytes")
        keys = set(value) & {"andGroup", "orGroup", "notExpression", "filter"}
        if len(keys) != 1 or len(value) != 1:
            raise ValueError(
                "must be a GA4 FilterExpression: exactly one of andGroup, orGroup, "
                "notExpression, filter"
            )
        return value


def default_reports() -> dict[str, ReportSettings]:
    """One stream of asset performance: per day, page, campaign, source/medium and asset id."""
    return {
        "asset_performance": ReportSettings(
            dimensions=list(ASSET_PERFORMANCE_DIMENSIONS),
            metrics=list(ASSET_PERFORMANCE_METRICS),
        )
    }


class Ga4Settings(ConnectorSettings):
    """A GA4 property read with a service account; one stream per configured report."""

    # A key file pasted into the wrong field must not come back in an error message.
    model_config = ConfigDict(hide_input_in_errors=True)

    property_id: str = Field(description="The numeric GA4 property id, e.g. 123456789")
    #: The service account's key file (JSON), as downloaded from Google Cloud.
    service_account_json: SecretStr
    base_url: VendorUrl = DEFAULT_BASE_URL
    #: Overrides the key file's ``token_uri`` (a simulator, a private endpoint). The key
    #: file's own ``token_uri`` is used only when it is Google's token endpoint.
    token_url: VendorUrl | None = None
    reports: dict[str, ReportSettings] = Field(default_factory=default_reports, min_length=1)
    #: First day of a full read: a date, or a number of days before the property's today.
    start_date: date | int = 90
    #: GA4 revises recent days: an incremental read re-reads this many days before its cursor.
    lookback_days: int = Field(default=3, ge=0, le=60)
    page_size: int = Field(default=10_000, ge=1, le=MAX_PAGE_SIZE)
    #: Client-side pace of runReport calls (GA4 documents no request rate, only tokens).
    rate_limit_requests: int = Field(default=10, ge=1, le=1000)
    rate_limit_period_s: float = Field(default=1.0, gt=0, le=3600)
    #: How long one call may wait in total for exhausted hourly tokens / concurrency to pass.
    quota_max_wait_s: float = Field(default=7200.0, ge=0, le=86_400)
    #: Wait after a "concurrent requests" 429 (it passes as soon as another call finishes).
    quota_concurrency_wait_s: float = Field(default=2.0, ge=0, le=600)

    @field_validator("property_id")
    @classmethod
    def _digits(cls, value: str) -> str:
        value = value.strip().removeprefix("properties/")
        if not re.fullmatch(r"[0-9]{1,20}", value):
            raise ValueError("must be the numeric GA4 property id, e.g. 123456789")
        return value

    @field_validator("service_account_json")
    @classmethod
    def _key_file(cls, value: SecretStr) -> SecretStr:
        ServiceAccountKey.parse(value.get_secret_value())
        return value

    @field_validator("base_url", "token_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", value):
            raise ValueError("must be an http(s) URL without query or fragment")
        return value.rstrip("/")

    @field_validator("reports")
    @classmethod
    def _stream_names(cls, value: dict[str, ReportSettings]) -> dict[str, ReportSettings]:
        if len(value) > 50:
            raise ValueError("at most 50 reports")
        for name in value:
            if not STREAM_NAME.fullmatch(name):
                raise ValueError(f"report name {name!r} must match [a-z][a-z0-9_]* (64 at most)")
        return value

    @field_validator("start_date")
    @classmethod
    def _start(cls, value: date | int) -> date | int:
        if isinstance(value, int) and not 0 <= value <= 3650:
            raise ValueError("as days back must be between 0 and 3650")
        if isinstance(value, date) and value < FIRST_GA4_DATE:
            raise ValueError(f"must not be before {FIRST_GA4_DATE.isoformat()} (GA4's first day)")
        return value

    @model_validator(mode="after")
    def _token_endpoint(self) -> Ga4Settings:
        if self.token_url is None:
            if token_uri(self.service_account_json.get_secret_value()) not in GOOGLE_TOKEN_URIS:
                # The assertion travels to that URL: only Google's, unless configured openly.
                raise ValueError(
                    "service_account_json names a token_uri that is not Google's token "
                    "endpoint; set token_url to use another one"
                )
        return self

    def service_account(self) -> ServiceAccountKey:
        """The parsed key file (validated when the settings were made)."""
        return ServiceAccountKey.parse(self.service_account_json.get_secret_value())

    def token_endpoint(self) -> str:
        """Where assertions are exchanged for access tokens."""
        return self.token_url or token_uri(self.service_account_json.get_secret_value())

    def start_expression(self) -> str:
        """``start_date`` as a GA4 date: ``YYYY-MM-DD`` or ``NdaysAgo``."""
        if isinstance(self.start_date, int):
            return "today" if self.start_date == 0 else f"{self.start_date}daysAgo"
        return self.start_date.isoformat()


def token_uri(key_file: str) -> str:
    """The ``token_uri`` of a key file that ``ServiceAccountKey.parse`` accepted."""
    return str(json.loads(key_file)["token_uri"])


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_FILTER_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


__all__ = [
    "ASSET_PERFORMANCE_DIMENSIONS",
    "ASSET_PERFORMANCE_METRICS",
    "DEFAULT_BASE_URL",
    "MAX_PAGE_SIZE",
    "Ga4Settings",
    "ReportSettings",
    "default_reports",
]
