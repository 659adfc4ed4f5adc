"""Settings of one Salesforce connection: org, OAuth flow, fields read, outbound messages."""

from __future__ import annotations

import re
from typing import Literal, Self

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import Field, SecretStr, field_validator, model_validator

from syncbridge.connector.spec import ConnectorSettings, VendorUrl
from syncbridge_salesforce.ids import canonical_id

#: Standard fields read by default (``Id``, ``SystemModstamp`` and ``IsDeleted`` are always
#: read). Custom fields (``UTM_Campaign__c``...) exist only in orgs that define them: add them
#: per connection (the sandbox's ``connection_settings`` does).
DEFAULT_CAMPAIGN_FIELDS = (
    "Name", "Type", "Status", "StartDate", "EndDate", "IsActive", "BudgetedCost", "ActualCost",
    "ParentId", "CreatedDate", "LastModifiedDate",
)  # fmt: skip
DEFAULT_CAMPAIGN_MEMBER_FIELDS = (
    "CampaignId", "ContactId", "LeadId", "Status", "HasResponded", "FirstRespondedDate",
    "CreatedDate", "LastModifiedDate",
)  # fmt: skip
DEFAULT_OPPORTUNITY_FIELDS = (
    "Name", "AccountId", "CampaignId", "Amount", "StageName", "Probability", "CloseDate",
    "IsClosed", "IsWon", "Type", "LeadSource", "CreatedDate", "LastModifiedDate",
)  # fmt: skip
DEFAULT_CONTACT_FIELDS = (
    "FirstName", "LastName", "Email", "AccountId", "LeadSource", "CreatedDate",
    "LastModifiedDate",
)  # fmt: skip

#: A field's API name: standard, custom (``__c``) or namespaced; never a relationship path
#: (``Account.Name``), so a configured name can only ever be a plain SOQL identifier.
_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")
_URL = re.compile(r"https?://[^/\s?#@]+(/[^\s?#]*)?")
#: The per-connection path secret of outbound messages: one URL path segment, unescaped.
_PATH_SECRET = re.compile(r"[A-Za-z0-9._~-]{16,256}")
_LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com")


class SalesforceSettings(ConnectorSettings):
    """A Salesforce org (My Domain), how syncbridge signs in, and what it reads and accepts."""

    #: The org's My Domain URL, e.g. https://acme.my.salesforce.com; the REST API lives there.
    #: A path prefix is kept (a sandbox simulator mounted under a path).
    instance_url: VendorUrl = Field(
        description="My Domain URL, e.g. https://acme.my.salesforce.com"
    )
    #: Where tokens are requested (``/services/oauth2/token`` below it). The JWT bearer flow
    #: uses https://login.salesforce.com (test.salesforce.com for sandboxes); the client
    #: credentials flow needs the My Domain host, so for it this defaults to ``instance_url``.
    login_url: VendorUrl = "https://login.salesforce.com"
    auth_flow: Literal["client_credentials", "jwt_bearer"] = "client_credentials"
    #: The connected app's consumer key.
    client_id: str = Field(min_length=1, max_length=256)
    #: The consumer secret (client credentials flow).
    client_secret: SecretStr | None = None
    #: The user the JWT bearer flow signs in as (the ``sub`` claim).
    username: str | None = Field(default=None, min_length=1, max_length=255)
    #: PEM RSA private key the JWT bearer assertion is signed with (RS256, signed locally);
    #: its certificate is uploaded to the connected app.
    private_key: SecretStr | None = None
    #: The ``aud`` claim of the JWT: the authorization server, not the token URL's host.
    jwt_audience: str = "https://login.salesforce.com"
    api_version: str = Field(default="v62.0", pattern=r"^v[1-9][0-9]{1,2}\.0$")
    #: The org's id (``00D...``, 15 or 18 characters, stored as 18): outbound messages from any
    #: other org are refused. None refuses every outbound message.
    organization_id: str | None = None
    #: The secret last path segment of the outbound message endpoint URL configured in
    #: Salesforce (``https://<syncbridge>/webhooks/<connection>/<secret>``): outbound messages
    #: are not signed, so this (and the org id) is what tells a real one from a forgery.
    #: None refuses every outbound message.
    outbound_secret: SecretStr | None = None
    campaign_fields: list[str] = Field(default_factory=lambda: list(DEFAULT_CAMPAIGN_FIELDS))
    campaign_member_fields: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CAMPAIGN_MEMBER_FIELDS)
    )
    opportunity_fields: list[str] = Field(default_factory=lambda: list(DEFAULT_OPPORTUNITY_FIELDS))
    contact_fields: list[str] = Field(default_factory=lambda: list(DEFAULT_CONTACT_FIELDS))
    #: ``Sforce-Query-Options: batchSize=N``; Salesforce may answer fewer per page.
    page_size: int = Field(default=2000, ge=200, le=2000)
    #: Salesforce documents no per-second REST limit: this is politeness towards the org.
    rate_limit_requests: int = Field(default=25, ge=1, le=10_000)
    rate_limit_period_s: float = Field(default=1.0, gt=0, le=86_400)
    #: Stop calling (``RateLimited``) once ``Sforce-Limit-Info`` shows this share of the org's
    #: rolling 24-hour API allocation used, leaving the rest to the org's other integrations.
    api_usage_max_share: float = Field(default=0.9, gt=0, le=1)
    #: How long to wait after ``REQUEST_LIMIT_EXCEEDED`` or reaching ``api_usage_max_share``
    #: (the allocation is a rolling 24 hours; calls free up as old ones age out).
    request_limit_wait_s: float = Field(default=900.0, ge=1, le=86_400)

    @field_validator("instance_url", "login_url")
    @classmethod
    def _origin_url(cls, value: str) -> str:
        if not _URL.fullmatch(value):
            raise ValueError("must be an http(s) URL such as https://acme.my.salesforce.com")
        return value.rstrip("/")

    @field_validator("organization_id")
    @classmethod
    def _org_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        canonical = canonical_id(value)
        if not canonical.startswith("00D"):
            raise ValueError("an organization id starts with 00D")
        return canonical

    @field_validator("outbound_secret")
    @classmethod
    def _path_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _PATH_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError("must be 16 to 256 characters of A-Z a-z 0-9 . _ ~ -")
        return value

    @field_validator("private_key")
    @classmethod
    def _rsa_pem(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        try:
            key = load_pem_private_key(value.get_secret_value().encode(), password=None)
        except (ValueError, TypeError, UnicodeEncodeError):
            # Never quote the key: the message ends up in API answers and logs.
            raise ValueError(
                "must be an unencrypted PEM private key (-----BEGIN PRIVATE KEY----- ...)"
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
            raise ValueError("must be an RSA key of at least 2048 bits (JWT RS256)")
        return value

    @field_validator(
        "campaign_fields", "campaign_member_fields", "opportunity_fields", "contact_fields"
    )
    @classmethod
    def _field_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _FIELD_NAME.fullmatch(name):
                raise ValueError(f"not a field API name: {name[:80]!r}")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _flow_credentials(self) -> Self:
        if self.auth_flow == "client_credentials":
            if self.client_secret is None:
                raise ValueError("the client credentials flow needs client_secret")
            if "login_url" not in self.model_fields_set:
                self.login_url = self.instance_url
            elif _host(self.login_url) in _LOGIN_HOSTS:
                raise ValueError(
                    "the client credentials flow needs the org's My Domain URL as login_url, "
                    "not login.salesforce.com or test.salesforce.com"
                )
        elif self.username is None or self.private_key is None:
            raise ValueError("the JWT bearer flow needs username and private_key")
        return self

    def stream_fields(self) -> dict[str, list[str]]:
        """The configured fields of each stream (without the always-read ones)."""
        return {
            "Campaign": self.campaign_fields,
            "CampaignMember": self.campaign_member_fields,
            "Opportunity": self.opportunity_fields,
            "Contact": self.contact_fields,
        }


def _host(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0].lower()


__all__ = [
    "DEFAULT_CAMPAIGN_FIELDS",
    "DEFAULT_CAMPAIGN_MEMBER_FIELDS",
    "DEFAULT_CONTACT_FIELDS",
    "DEFAULT_OPPORTUNITY_FIELDS",
    "SalesforceSettings",
]
