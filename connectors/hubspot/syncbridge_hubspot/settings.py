"""Settings of one HubSpot connection (a private app's token, what to read, webhooks, limits)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from syncbridge.connector.spec import ConnectorSettings, VendorUrl

#: Properties read by default: what mapping rules and links need (vendor-apis.md 1.1 and the
#: HubSpot default properties; the analytics ones carry first-touch source and campaign).
DEFAULT_CONTACT_PROPERTIES = (
    "email",
    "firstname",
    "lastname",
    "lifecyclestage",
    "associatedcompanyid",
    "hs_analytics_source",
    "hs_analytics_source_data_1",
    "hs_analytics_source_data_2",
    "hs_analytics_first_url",
    "hs_analytics_first_touch_converting_campaign",
    "createdate",
    "lastmodifieddate",
)
DEFAULT_COMPANY_PROPERTIES = (
    "name",
    "domain",
    "industry",
    "createdate",
    "hs_lastmodifieddate",
)
DEFAULT_DEAL_PROPERTIES = (
    "dealname",
    "amount",
    "deal_currency_code",
    "dealstage",
    "pipeline",
    "closedate",
    "hs_is_closed",
    "hs_is_closed_won",
    "hs_analytics_source",
    "hs_campaign",
    "createdate",
    "hs_lastmodifieddate",
)
DEFAULT_CAMPAIGN_PROPERTIES = (
    "hs_name",
    "hs_start_date",
    "hs_end_date",
    "hs_campaign_status",
    "hs_utm",
    "hs_audience",
    "hs_currency_code",
    "hs_budget_items_sum_amount",
    "hs_notes",
)
#: The campaign asset types read per campaign (``/marketing/v3/campaigns/{guid}/assets/{type}``).
DEFAULT_CAMPAIGN_ASSET_TYPES = ("EXTERNAL_WEB_URL",)

SignatureVersion = Literal["v1", "v2", "v3"]
DEFAULT_SIGNATURE_VERSIONS: tuple[SignatureVersion, ...] = ("v3",)

_PROPERTY_NAME = re.compile(r"[A-Za-z0-9_]{1,100}")
_ASSET_TYPE = re.compile(r"[A-Z][A-Z_]{1,49}")
_OBJECT_TYPE = re.compile(r"[a-z_]{1,50}")
MAX_PROPERTIES = 200


def _property_list(default: tuple[str, ...]) -> list[str]:
    return Field(default_factory=lambda: list(default), min_length=1, max_length=MAX_PROPERTIES)


class HubSpotSettings(ConnectorSettings):
    """A HubSpot account reached with a private app's access token."""

    access_token: SecretStr
    #: The app's client secret: the key of webhook signatures (None refuses every delivery).
    client_secret: SecretStr | None = None
    base_url: VendorUrl = "https://api.hubapi.com"
    contact_properties: list[str] = _property_list(DEFAULT_CONTACT_PROPERTIES)
    company_properties: list[str] = _property_list(DEFAULT_COMPANY_PROPERTIES)
    deal_properties: list[str] = _property_list(DEFAULT_DEAL_PROPERTIES)
    campaign_properties: list[str] = _property_list(DEFAULT_CAMPAIGN_PROPERTIES)
    #: Object types whose associated ids each deal carries in ``data["associations"]``.
    deal_associations: list[str] = Field(default_factory=lambda: ["contacts"], max_length=5)
    #: The deal property holding the campaign guid a deal is linked to (None: no link).
    deal_campaign_property: str | None = "hs_campaign"
    campaign_asset_types: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CAMPAIGN_ASSET_TYPES), max_length=20
    )
    #: Full reads: ``limit`` of the list endpoints (HubSpot's maximum is 100).
    page_size: int = Field(default=100, ge=1, le=100)
    #: Incremental reads: ``limit`` of the search endpoint (HubSpot's maximum is 200).
    search_page_size: int = Field(default=200, ge=1, le=200)
    #: How many results one search can page through (HubSpot answers 400 past 10,000).
    search_result_cap: int = Field(default=10_000, ge=2, le=10_000)
    #: Full reads also list archived records and emit them as tombstones.
    include_archived: bool = True
    #: Which signature schemes are accepted; v1/v2 carry no timestamp (older apps only).
    webhook_signature_versions: list[SignatureVersion] = Field(
        default_factory=lambda: list(DEFAULT_SIGNATURE_VERSIONS), min_length=1
    )
    #: v3: how far the request timestamp may lie from now, either way (HubSpot: 5 minutes).
    webhook_tolerance_s: float = Field(default=300.0, gt=0, le=3600)
    #: v1/v2 (no signed timestamp): how old an event's ``occurredAt`` may be.
    webhook_legacy_max_age_s: float = Field(default=6 * 3600.0, gt=0, le=7 * 86_400)
    webhook_max_body_bytes: int = Field(default=1_048_576, ge=1024, le=16 * 1_048_576)
    #: Only deliveries for this HubSpot account (portal) are accepted, when set.
    portal_id: int | None = Field(default=None, ge=1)
    #: Burst limit per 10 s: 100 (Free/Starter) to 190 (Pro/Enterprise private apps); the
    #: ``X-HubSpot-RateLimit-*`` headers adjust it.
    rate_limit_requests: int = Field(default=100, ge=1, le=10_000)
    rate_limit_period_s: float = Field(default=10.0, gt=0, le=86_400)
    #: The search endpoints' own limit (requests per second per token).
    search_rate_limit_per_s: int = Field(default=4, ge=1, le=100)
    #: How long to hold every call after a 429 whose policy is ``DAILY``.
    daily_limit_pause_s: float = Field(default=3600.0, ge=1, le=86_400)

    @field_validator("access_token", "client_secret")
    @classmethod
    def _fits_a_header(cls, value: SecretStr | None) -> SecretStr | None:
        # The token travels in "Authorization: Bearer <token>"; httpx refuses control
        # characters in an error that quotes the whole value.
        if value is not None and re.search(r"[\x00-\x1f\x7f]", value.get_secret_value()):
            raise ValueError("must not contain control characters (line breaks, tabs, NUL)")
        if value is not None and not value.get_secret_value():
            raise ValueError("must not be empty")
        return value

    @field_validator("base_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", value):
            raise ValueError("base_url must be an http(s) URL, e.g. https://api.hubapi.com")
        return value.rstrip("/")

    @field_validator(
        "contact_properties", "company_properties", "deal_properties", "campaign_properties"
    )
    @classmethod
    def _property_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _PROPERTY_NAME.fullmatch(name):
                raise ValueError(f"not a HubSpot property name: {name!r}")
        return list(dict.fromkeys(value))

    @field_validator("deal_campaign_property")
    @classmethod
    def _campaign_property(cls, value: str | None) -> str | None:
        if value is not None and not _PROPERTY_NAME.fullmatch(value):
            raise ValueError(f"not a HubSpot property name: {value!r}")
        return value

    @field_validator("deal_associations")
    @classmethod
    def _object_types(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _OBJECT_TYPE.fullmatch(name):
                raise ValueError(f"not a HubSpot object type: {name!r}")
        return list(dict.fromkeys(value))

    @field_validator("campaign_asset_types")
    @classmethod
    def _asset_types(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _ASSET_TYPE.fullmatch(name):
                raise ValueError(f"not a campaign asset type: {name!r}")
        return list(dict.fromkeys(value))

    @field_validator("webhook_signature_versions")
    @classmethod
    def _versions(cls, value: list[SignatureVersion]) -> list[SignatureVersion]:
        return list(dict.fromkeys(value))

    def properties_of(self, stream: str) -> list[str]:
        """The properties read for ``stream``, the deal-campaign property included."""
        chosen = {
            "contacts": self.contact_properties,
            "companies": self.company_properties,
            "deals": self.deal_properties,
            "campaigns": self.campaign_properties,
        }[stream]
        if stream == "deals" and self.deal_campaign_property:
            return list(dict.fromkeys([*chosen, self.deal_campaign_property]))
        return chosen


__all__ = [
    "DEFAULT_CAMPAIGN_ASSET_TYPES",
    "DEFAULT_CAMPAIGN_PROPERTIES",
    "DEFAULT_COMPANY_PROPERTIES",
    "DEFAULT_CONTACT_PROPERTIES",
    "DEFAULT_DEAL_PROPERTIES",
    "HubSpotSettings",
    "SignatureVersion",
]
