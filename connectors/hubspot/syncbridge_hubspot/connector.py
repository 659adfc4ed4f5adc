"""The HubSpot connector: contacts, companies, deals and marketing campaigns in, webhooks verified.

Reads only (HubSpot is a CRM: syncbridge writes no tags there). A private app's access
token authenticates every call; private-app tokens do not expire, so there is nothing to
refresh (a refused token is an ``AuthError``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence

import httpx

from syncbridge.connector.errors import AuthError, PermanentConnectorError
from syncbridge.connector.http import BearerToken, RetryPolicy, VendorHttp
from syncbridge.connector.ratelimit import RateLimitPolicy
from syncbridge.connector.types import (
    CheckResult,
    Page,
    Record,
    Ref,
    StreamSpec,
    TagChange,
    WebhookEvent,
    WriteOutcome,
)
from syncbridge_hubspot.campaigns import CAMPAIGNS, CampaignReader
from syncbridge_hubspot.crm import CRM_STREAMS, MODIFIED_PROPERTY, CrmReader
from syncbridge_hubspot.cursor import FullCursor, IncrementalCursor, decode
from syncbridge_hubspot.limits import HubSpotRateLimiter, SearchRateLimiter
from syncbridge_hubspot.records import json_of
from syncbridge_hubspot.settings import HubSpotSettings
from syncbridge_hubspot.webhooks import WebhookPolicy, WebhookVerifier

STREAMS = (
    StreamSpec("contacts", primary_key="id", cursor_field=MODIFIED_PROPERTY["contacts"]),
    StreamSpec("companies", primary_key="id", cursor_field=MODIFIED_PROPERTY["companies"]),
    StreamSpec("deals", primary_key="id", cursor_field=MODIFIED_PROPERTY["deals"]),
    StreamSpec(CAMPAIGNS, primary_key="id", cursor_field="updatedAt"),
)
STREAM_NAMES = frozenset(s.name for s in STREAMS)


class HubSpotConnector:
    """One HubSpot account. Vendor JSON in, typed records out; no database, no mapping."""

    def __init__(
        self,
        settings: HubSpotSettings,
        client: httpx.AsyncClient,
        *,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        self.settings = settings
        burst = HubSpotRateLimiter(
            RateLimitPolicy(
                settings.rate_limit_requests, settings.rate_limit_period_s, header_style="hubspot"
            ),
            daily_pause_s=settings.daily_limit_pause_s,
        )
        search = SearchRateLimiter(
            settings.search_rate_limit_per_s,
            burst=burst,
            daily_pause_s=settings.daily_limit_pause_s,
        )
        auth = BearerToken(settings.access_token)
        self.http, self.search_http = (
            VendorHttp(
                client,
                base_url=settings.base_url,
                connector_key="hubspot",
                limiter=limiter,
                retry=retry,
                auth=auth,
            )
            for limiter in (burst, search)
        )
        self.crm = CrmReader(self.http, self.search_http, settings)
        self.campaigns = CampaignReader(self.http, settings)
        secret = settings.client_secret
        self.verifier = WebhookVerifier(
            WebhookPolicy(
                client_secret=secret.get_secret_value() if secret is not None else None,
                versions=frozenset(settings.webhook_signature_versions),
                tolerance_s=settings.webhook_tolerance_s,
                legacy_max_age_s=settings.webhook_legacy_max_age_s,
                max_body_bytes=settings.webhook_max_body_bytes,
                portal_id=settings.portal_id,
            ),
            clock=burst.wall_clock,
        )

    async def check(self) -> CheckResult:
        """``GET /account-info/v3/details``: ok with the account's facts.

        A refused token raises ``AuthError`` (a connection check reports ``auth_failed``);
        other refusals answer not ok with the reason.
        """
        try:
            answer = await self.http.request("GET", "account-info/v3/details")
            body = json_of(answer, "account details")
        except AuthError:
            raise
        except PermanentConnectorError as exc:
            return CheckResult(ok=False, detail=str(exc))
        if not isinstance(body, dict) or "portalId" not in body:
            return CheckResult(ok=False, detail="hubspot: account answer has no portalId")
        facts = {
            k: body[k] for k in ("portalId", "timeZone", "companyCurrency", "uiDomain") if k in body
        }
        return CheckResult(ok=True, detail=f"HubSpot account {body['portalId']}", account=facts)

    def streams(self) -> Sequence[StreamSpec]:
        """``contacts``, ``companies``, ``deals`` (incremental on their modification time) and
        ``campaigns`` (on ``updatedAt``)."""
        return STREAMS

    def read(self, stream: str, cursor: str | None) -> AsyncIterator[Page]:
        """Pages of ``stream`` from ``cursor``: a full read, or changes after a watermark."""
        if stream not in STREAM_NAMES:
            raise PermanentConnectorError(f"hubspot has no stream {stream!r}")
        position = decode(cursor)
        if stream == CAMPAIGNS:
            if isinstance(position, IncrementalCursor):
                return self.campaigns.incremental(position)
            return self.campaigns.full(position)
        if isinstance(position, IncrementalCursor):
            return self.crm.incremental(stream, position)
        return self.crm.full(stream, position if isinstance(position, FullCursor) else None)

    async def fetch(self, refs: Sequence[Ref]) -> list[Record]:
        """Current records of ``refs``, in stream order; unknown or archived ones left out."""
        by_stream: dict[str, list[str]] = defaultdict(list)
        for ref in refs:
            if ref.stream not in STREAM_NAMES:
                raise PermanentConnectorError(f"hubspot has no stream {ref.stream!r}")
            by_stream[ref.stream].append(ref.external_id)
        out: list[Record] = []
        for stream, ids in by_stream.items():
            if stream == CAMPAIGNS:
                out += await self.campaigns.fetch(ids)
            elif stream in CRM_STREAMS:
                out += await self.crm.fetch(stream, ids)
        return out

    async def write(self, changes: Sequence[TagChange]) -> list[WriteOutcome]:
        """HubSpot holds no assets: every change fails (the spec declares no write-back)."""
        return [
            WriteOutcome(c.external_id, "failed", detail="hubspot does not take tag writes")
            for c in changes
        ]

    async def parse_webhook(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        *,
        url: str = "",
        method: str = "POST",
    ) -> list[WebhookEvent]:
        """Verify a delivery (v3, or v1/v2 when allowed) and return one thin event per change."""
        return self.verifier.parse(headers, raw_body, url=url, method=method)

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client is shared and closed by its owner."""


def factory(settings: HubSpotSettings, client: httpx.AsyncClient) -> HubSpotConnector:
    """One connector instance per connection, on the shared HTTP client."""
    return HubSpotConnector(settings, client)


__all__ = ["STREAMS", "HubSpotConnector", "factory"]
