"""The Bynder connector: media and metaproperties in, owned tags out, SNS webhooks verified."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from operator import itemgetter
from typing import Any

import httpx

from syncbridge.connector.errors import (
    AuthError,
    InvalidWebhook,
    PermanentConnectorError,
    TransientConnectorError,
)
from syncbridge.connector.http import BearerToken, RetryPolicy, VendorHttp
from syncbridge.connector.ratelimit import AdaptiveRateLimiter, RateLimitPolicy
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
from syncbridge.logs import get_logger
from syncbridge_bynder.media_cursor import MediaCursor, modified_at
from syncbridge_bynder.settings import BynderSettings
from syncbridge_bynder.sns import (
    MAX_CERT_BYTES,
    SUBSCRIPTION_CONFIRMATION,
    UNSUBSCRIBE_CONFIRMATION,
    SnsPolicy,
    SnsVerifier,
    check_sns_url,
    parse_timestamp,
)
from syncbridge_bynder.writeback import TagWriter

log = get_logger(__name__)

MEDIA = "media"
METAPROPERTIES = "metaproperties"
STREAMS = (
    StreamSpec(MEDIA, primary_key="id", cursor_field="dateModified", entity="asset"),
    StreamSpec(METAPROPERTIES, primary_key="id", entity="record"),
)
#: The last part of a Bynder event name -> the normalised action.
ACTIONS = {
    "create": "created",
    "upload": "created",
    "uploaded": "created",
    "updated": "updated",
    "meta_updated": "updated",
    "deleted": "deleted",
    "archived": "deleted",
}


class BynderConnector:
    """One Bynder portal. Vendor JSON in and out; no database, no mapping."""

    def __init__(
        self,
        settings: BynderSettings,
        client: httpx.AsyncClient,
        *,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        self.settings = settings
        self.client = client
        policy = RateLimitPolicy(
            settings.rate_limit_requests,
            settings.rate_limit_period_s,
            header_style="none",
            # Bynder sends no Retry-After and keeps an IP blocked until it goes quiet.
            min_retry_after_s=settings.rate_limit_block_s,
        )
        self.http = VendorHttp(
            client,
            base_url=f"{settings.base_url}/api/",
            connector_key="bynder",
            limiter=AdaptiveRateLimiter(policy),
            retry=retry,
            auth=BearerToken(settings.permanent_token),
        )
        self.writer = TagWriter(self.http, settings)
        self.verifier = SnsVerifier(
            SnsPolicy(
                topic_arns=frozenset(settings.sns_topic_arns),
                cert_hosts=tuple(settings.sns_allow_cert_hosts),
                pinned_cert_pem=settings.sns_pinned_cert_pem,
                max_age=timedelta(seconds=settings.sns_max_age_s),
            ),
            self._fetch_cert,
        )

    async def check(self) -> CheckResult:
        """``GET /api/v4/account/``: ok with the account name, or not ok when refused.

        A refused token raises ``AuthError`` (so a connection check reports ``auth_failed``);
        other refusals answer not ok with the reason.
        """
        try:
            account = await self.http.get_json("v4/account/")
        except AuthError:
            raise
        except PermanentConnectorError as exc:
            return CheckResult(ok=False, detail=str(exc))
        if not isinstance(account, dict):
            return CheckResult(ok=False, detail="bynder: account answer is not an object")
        facts = {k: account[k] for k in ("id", "name") if k in account}
        return CheckResult(ok=True, detail=f"Bynder account {account.get('name')}", account=facts)

    def streams(self) -> Sequence[StreamSpec]:
        """``media`` (assets, incremental on ``dateModified``) and ``metaproperties``."""
        return STREAMS

    def read(self, stream: str, cursor: str | None) -> AsyncIterator[Page]:
        """Pages of ``stream`` from ``cursor``; see ``media_cursor`` for the media cursor."""
        if stream == MEDIA:
            return self._read_media(MediaCursor.decode(cursor))
        if stream == METAPROPERTIES:
            return self._read_metaproperties(cursor)
        raise PermanentConnectorError(f"bynder has no stream {stream!r}")

    async def _read_media(self, cursor: MediaCursor) -> AsyncIterator[Page]:
        limit = self.settings.page_size
        first = True
        while True:
            params = {**cursor.params(), "orderBy": "dateModified asc", "limit": limit}
            # The read's first page also asks how many media match (``count=1``): the run's
            # progress total. Later pages are plain lists.
            params = {**params, "page": cursor.page, **({"count": 1} if first else {})}
            body = await self.http.get_json("v4/media/", params=params)
            total = _count_total(body) if first else None
            items = _media_list(body["media"] if first and isinstance(body, dict) else body)
            step = cursor.step(items, limit, self.settings.incremental_lookback_s)
            # ``_media_list`` checked every id is a string; each time is the parsed one.
            media, times = list(map(_MEDIUM, step.media)), list(map(_TIME, step.media))
            records = Record.many(MEDIA, list(map(_ID, media)), media, times)
            log.info("bynder.page_read", stream=MEDIA, page=cursor.page, count=len(records))
            yield Page(records, step.cursor.encode(), total=total)
            if step.last:
                return
            cursor, first = step.cursor, False

    async def _read_metaproperties(self, cursor: str | None) -> AsyncIterator[Page]:
        # Bynder answers every metaproperty in one object, each with all its options (a
        # Campaign property can hold thousands): one page per metaproperty bounds a page.
        body = await self.http.get_json("v4/metaproperties/")
        if not isinstance(body, dict) or not all(_is_item(v) for v in body.values()):
            raise PermanentConnectorError("bynder: metaproperties answer is not an object")
        ordered = sorted(body.values(), key=lambda mp: str(mp["id"]))
        todo = [mp for mp in ordered if cursor is None or str(mp["id"]) > cursor]
        for i, mp in enumerate(todo):
            last = i == len(todo) - 1
            record = Record(METAPROPERTIES, str(mp["id"]), mp)
            yield Page([record], None if last else str(mp["id"]))
        if not todo:
            yield Page([], None)

    async def fetch(self, refs: Sequence[Ref]) -> list[Record]:
        """Current media or metaproperties; unknown ids are left out.

        Waits ``fetch_delay_s`` first: Bynder recommends 2-5 s between a webhook and reading
        the asset it names, which is what ``fetch`` follows.
        """
        if self.settings.fetch_delay_s and refs:
            await self.http.sleep(self.settings.fetch_delay_s)
        out = []
        for ref in refs:
            path = {MEDIA: "v4/media/", METAPROPERTIES: "v4/metaproperties/"}.get(ref.stream)
            if path is None:
                raise PermanentConnectorError(f"bynder has no stream {ref.stream!r}")
            response = await self.http.request(
                "GET", f"{path}{ref.external_id}/", allow_status=(404,)
            )
            if response.status_code == 404:
                continue
            item = self.http.parse_json(response)
            if not _is_item(item):
                raise PermanentConnectorError(f"bynder: {ref.stream} answer is not an item")
            out.append(
                _media_record(item)
                if ref.stream == MEDIA
                else Record(ref.stream, str(item["id"]), item)
            )
        return out

    async def write(self, changes: Sequence[TagChange]) -> list[WriteOutcome]:
        """Set owned tags (and the owned metaproperty); ``accepted`` on Bynder's 202."""
        return await self.writer.write(changes)

    async def parse_webhook(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        *,
        url: str = "",  # noqa: ARG002 - the scheme signs neither URL nor method
        method: str = "POST",  # noqa: ARG002
    ) -> list[WebhookEvent]:
        """Verify an SNS delivery; a Bynder media event gives one thin event.

        A ``SubscriptionConfirmation`` is verified and confirmed (its SubscribeURL fetched)
        and gives no event; so does anything verified that is not about a medium.
        """
        envelope = await self.verifier.verify(headers, raw_body)
        kind = envelope["Type"]
        if kind == SUBSCRIPTION_CONFIRMATION:
            await self._confirm_subscription(envelope["SubscribeURL"])
            return []
        if kind == UNSUBSCRIBE_CONFIRMATION:
            return []
        return _media_events(envelope)

    async def _confirm_subscription(self, url: object) -> None:
        if not isinstance(url, str):
            raise InvalidWebhook("SubscriptionConfirmation has no SubscribeURL")
        if not self._sandbox_origin(url):
            check_sns_url(
                url, hosts=self.settings.sns_allow_cert_hosts, what="SubscribeURL", cert=False
            )
        try:
            response = await self.client.get(url)
        except httpx.HTTPError as exc:
            raise TransientConnectorError("bynder: SNS SubscribeURL could not be reached") from exc
        if response.status_code != 200:
            raise TransientConnectorError(
                f"bynder: SNS SubscribeURL answered HTTP {response.status_code}"
            )
        log.info("bynder.sns_subscription_confirmed")

    def _sandbox_origin(self, url: str) -> bool:
        """A SubscribeURL under the portal's own URL, allowed only with a pinned cert (sandbox)."""
        if self.settings.sns_pinned_cert_pem is None:
            return False
        target, portal = httpx.URL(url), httpx.URL(self.settings.base_url)
        same_origin = (target.scheme, target.host, target.port) == (
            portal.scheme,
            portal.host,
            portal.port,
        )
        below = portal.path.rstrip("/") + "/"
        return same_origin and not target.userinfo and target.path.startswith(below)

    async def _fetch_cert(self, url: str) -> bytes:
        try:
            response = await self.client.get(url)
        except httpx.HTTPError as exc:
            raise TransientConnectorError("bynder: SNS signing certificate unreachable") from exc
        if response.status_code >= 500:
            raise TransientConnectorError("bynder: SNS signing certificate host failed")
        if response.status_code != 200 or len(response.content) > MAX_CERT_BYTES:
            raise InvalidWebhook("SNS signing certificate could not be fetched")
        return response.content

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client is shared and closed by its owner."""


_MEDIUM, _TIME, _ID = itemgetter(0), itemgetter(1), itemgetter("id")


def _is_item(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("id"), str)


def _count_total(body: Any) -> int | None:
    """``count.total`` of a media list asked with ``count=1`` (None when it has none)."""
    count = body.get("count") if isinstance(body, dict) else None
    total = count.get("total") if isinstance(count, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def _media_list(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, list) or not all(
        _is_item(m) and isinstance(m.get("dateModified"), str) for m in body
    ):
        raise PermanentConnectorError("bynder: media list answer is not a list of media")
    return body


def _media_record(media: Mapping[str, Any]) -> Record:
    """A medium as a record."""
    return Record(MEDIA, str(media["id"]), media, updated_at=modified_at(media))


def _media_events(envelope: Mapping[str, Any]) -> list[WebhookEvent]:
    subject = envelope.get("Subject")
    subject = subject if isinstance(subject, str) else ""
    if subject and not subject.startswith("asset_bank.media."):
        log.info("bynder.webhook_ignored", subject=subject)
        return []
    try:
        message = json.loads(envelope["Message"])
    except (ValueError, RecursionError):
        message = None
    media_id = message.get("media_id") if isinstance(message, dict) else None
    if not isinstance(media_id, str) or not media_id:
        log.info("bynder.webhook_ignored", subject=subject, reason="no media_id")
        return []
    action = ACTIONS.get(subject.removeprefix("asset_bank.media."), "updated")
    return [
        WebhookEvent(
            delivery_key=envelope["MessageId"],
            stream=MEDIA,
            external_id=media_id,
            action=action,
            occurred_at=parse_timestamp(envelope["Timestamp"]),
            payload={"subject": subject, "topic_arn": envelope["TopicArn"], "message": message},
        )
    ]


def factory(settings: BynderSettings, client: httpx.AsyncClient) -> BynderConnector:
    """One connector instance per connection, on the shared HTTP client."""
    return BynderConnector(settings, client)


__all__ = ["ACTIONS", "STREAMS", "BynderConnector", "factory"]
