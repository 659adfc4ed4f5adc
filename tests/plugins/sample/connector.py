"""The Sample DAM connector: a minimal real connector built on the shared toolkit."""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from syncbridge.connector.errors import (
    AuthError,
    InvalidWebhook,
    PermanentConnectorError,
    TransientConnectorError,
)
from syncbridge.connector.http import RetryPolicy, VendorHttp
from syncbridge.connector.paging import pages_by_number
from syncbridge.connector.ratelimit import AdaptiveRateLimiter, RateLimitPolicy
from syncbridge.connector.spec import ConnectorSettings, VendorUrl
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
from tests.plugins.sample.simulator import signature

OWNED_PREFIX = "perf:"
WEBHOOK_TOLERANCE_S = 300
STREAM = StreamSpec("assets", primary_key="id", cursor_field="modified", entity="asset")
POLICY = RateLimitPolicy(max_requests=100, period_s=10.0)


class SampleSettings(ConnectorSettings):
    """Settings of a Sample DAM connection."""

    base_url: VendorUrl = "http://sample.sandbox"
    api_token: SecretStr
    webhook_secret: SecretStr | None = None
    page_size: int = 10


class SampleConnector:
    """One Sample DAM connection."""

    def __init__(self, settings: SampleSettings, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = VendorHttp(
            client,
            base_url=settings.base_url,
            connector_key="sample",
            limiter=AdaptiveRateLimiter(POLICY),
            retry=RetryPolicy(attempts=6),
            headers={"Authorization": f"Bearer {settings.api_token.get_secret_value()}"},
        )

    async def check(self) -> CheckResult:
        try:
            me = await self.http.get_json("api/me")
        except AuthError:
            return CheckResult(ok=False, detail="the Sample DAM refused the token")
        return CheckResult(ok=True, detail="ok", account={"account": me["account"]})

    def streams(self) -> Sequence[StreamSpec]:
        return [STREAM]

    async def read(self, stream: str, cursor: str | None) -> AsyncIterator[Page]:
        # Cursor: "<modified_since>|<page>|<highest modified seen>"; the last page carries
        # "<highest seen>|1|<highest seen>", the watermark of the next incremental read.
        if stream != STREAM.name:
            raise PermanentConnectorError(f"sample: no stream {stream!r}")
        since, page, seen = _parse_cursor(cursor)
        size = self.settings.page_size

        async def fetch(number: int) -> list[Any]:
            params = {"page": number, "limit": size, "modified_since": since}
            body = await self.http.get_json("api/assets", params=params)
            if not isinstance(body, list):
                raise PermanentConnectorError("sample: the asset list is not an array")
            return body

        async for vendor_page in pages_by_number(fetch, limit=size, cursor=str(page)):
            records = [_record(item) for item in vendor_page.items]
            seen = max([seen, *(str(item["modified"]) for item in vendor_page.items)])
            if vendor_page.next_cursor is None:
                yield Page(records, f"{seen}|1|{seen}")
            else:
                yield Page(records, f"{since}|{vendor_page.next_cursor}|{seen}")

    async def parse_webhook(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        *,
        url: str = "",  # noqa: ARG002 - the scheme signs neither URL nor method
        method: str = "POST",  # noqa: ARG002
    ) -> list[WebhookEvent]:
        secret = self.settings.webhook_secret
        if secret is None:
            raise InvalidWebhook("sample: no webhook secret configured")
        lower = {k.lower(): v for k, v in headers.items()}
        delivery = lower.get("x-sample-delivery")
        timestamp = lower.get("x-sample-timestamp", "")
        given = lower.get("x-sample-signature", "")
        if not delivery or not timestamp.isdigit() or not given:
            raise InvalidWebhook("sample: missing delivery headers")
        if abs(time.time() - int(timestamp)) > WEBHOOK_TOLERANCE_S:
            raise InvalidWebhook("sample: timestamp outside the tolerance")
        expected = signature(secret.get_secret_value(), timestamp, raw_body)
        if not hmac.compare_digest(expected, given):
            raise InvalidWebhook("sample: signature mismatch")
        try:
            events = json.loads(raw_body)["events"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidWebhook("sample: malformed delivery") from exc
        return [
            WebhookEvent(f"{delivery}:{i}", STREAM.name, str(e["asset_id"]), str(e["action"]))
            for i, e in enumerate(events)
        ]

    async def fetch(self, refs: Sequence[Ref]) -> list[Record]:
        out = []
        for ref in refs:
            if ref.stream != STREAM.name:
                continue
            item = await self._get(ref.external_id)
            if item is not None:
                out.append(_record(item))
        return out

    async def write(self, changes: Sequence[TagChange]) -> list[WriteOutcome]:
        return [await self._write_one(change) for change in changes]

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client is shared."""

    async def _get(self, external_id: str) -> dict[str, Any] | None:
        response = await self.http.request("GET", f"api/assets/{external_id}", allow_status={404})
        if response.status_code == 404:
            return None
        item: dict[str, Any] = self.http.parse_json(response)
        return item

    async def _write_one(self, change: TagChange) -> WriteOutcome:
        try:
            current = await self._get(change.external_id)
            if current is None:
                return WriteOutcome(change.external_id, "failed", "no such asset")
            tags = set(current["tags"])
            human = {t for t in tags if not t.startswith(OWNED_PREFIX)}
            wanted = human | set(change.desired)
            if wanted == tags:
                return WriteOutcome(change.external_id, "skipped")
            await self.http.request(
                "PUT", f"api/assets/{change.external_id}/tags", json={"tags": sorted(wanted)}
            )
        except TransientConnectorError as exc:
            return WriteOutcome(change.external_id, "failed", exc.detail, retryable=True)
        except AuthError:
            raise
        except PermanentConnectorError as exc:
            return WriteOutcome(change.external_id, "failed", exc.detail)
        return WriteOutcome(change.external_id, "applied")


def _parse_cursor(cursor: str | None) -> tuple[str, int, str]:
    if cursor is None:
        return "", 1, ""
    try:
        since, page, seen = cursor.split("|")
        return since, int(page), seen
    except ValueError as exc:
        raise PermanentConnectorError(f"sample: not a cursor: {cursor!r}") from exc


def _record(item: Mapping[str, Any]) -> Record:
    return Record(
        stream=STREAM.name,
        external_id=str(item["id"]),
        data=dict(item),
        updated_at=datetime.fromisoformat(str(item["modified"])),
    )
