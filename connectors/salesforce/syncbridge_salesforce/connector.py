"""The Salesforce connector: campaigns, members, opportunities and contacts; outbound messages.

Streams are sObjects read with SOQL through ``queryAll`` (so deleted rows still in the
recycle bin come back as tombstones, ``IsDeleted = true``, at no extra call), ordered by
``SystemModstamp, Id`` and paged through ``nextRecordsUrl``; see ``cursor`` for the resume
cursor and ``records`` for how values are typed. ``fetch`` uses sObject Collections
(``POST /composite/sobjects/{object}``, up to 2,000 ids a call). Outbound messages are thin
events (see ``outbound``); Salesforce drops a message it could not deliver within 24 hours,
so the scheduled incremental read is the backstop that catches what was lost.

Left out: writing to Salesforce (the connector is read-only), Leads and
OpportunityContactRole, Change Data Capture / Platform Events, the Bulk API (REST batches of
2,000 serve the volumes syncbridge reads), OAuth flows with a user present or a refresh
token, and the optional client certificate Salesforce can present on outbound messages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from itertools import chain, compress, islice, repeat
from operator import is_, itemgetter, le
from typing import Any

import httpx

from syncbridge.connector.errors import (
    AuthError,
    InvalidWebhook,
    PermanentConnectorError,
)
from syncbridge.connector.http import RetryPolicy
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
from syncbridge_salesforce.api import QueryLocatorExpired, SalesforceApi
from syncbridge_salesforce.cursor import ModstampCursor, parse_stamp
from syncbridge_salesforce.ids import ID_PATTERN, is_id
from syncbridge_salesforce.outbound import (
    ACK_ENVELOPE,
    check_content_type,
    check_path_secret,
    parse_outbound_message,
)
from syncbridge_salesforce.records import RecordShape, record_list
from syncbridge_salesforce.settings import SalesforceSettings

log = get_logger(__name__)

STREAM_NAMES = ("Campaign", "CampaignMember", "Opportunity", "Contact")
STREAMS = tuple(
    StreamSpec(name, primary_key="Id", cursor_field="SystemModstamp", entity="record")
    for name in STREAM_NAMES
)
#: sObject Collections retrieve takes at most 2,000 ids per call.
FETCH_BATCH = 2000
_KEY = itemgetter("SystemModstamp", "Id")
_STAMP, _ID, _DELETED = itemgetter(0), itemgetter(1), itemgetter("IsDeleted")


class SalesforceConnector:
    """One Salesforce org. Vendor JSON in, plain records out; no database, no mapping."""

    def __init__(
        self,
        settings: SalesforceSettings,
        client: httpx.AsyncClient,
        *,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        self.settings = settings
        self.api = SalesforceApi(settings, client, retry=retry)
        self._shapes: dict[str, RecordShape] = {}
        self._fields = settings.stream_fields()

    @property
    def data_path(self) -> str:
        return self.api.data_path

    async def check(self) -> CheckResult:
        """Get a token, then read the org's API limits: ok with the org id and API usage.

        Refused credentials raise ``AuthError`` (a connection check reports ``auth_failed``);
        an API version the org does not serve, or another refusal, answers not ok.
        """
        try:
            token = await self.api.tokens.token()
            limits = await self.api.json("GET", f"{self.data_path}/limits")
        except AuthError:
            raise
        except PermanentConnectorError as exc:
            return CheckResult(ok=False, detail=str(exc))
        daily = limits.get("DailyApiRequests") if isinstance(limits, dict) else None
        account: dict[str, Any] = {
            "organization_id": token.organization_id,
            "instance_url": self.settings.instance_url,
            "api_version": self.settings.api_version,
        }
        if isinstance(daily, dict):
            account["daily_api_requests"] = {k: daily.get(k) for k in ("Max", "Remaining")}
        org = self.settings.organization_id
        if org is not None and token.organization_id not in (None, org):
            return CheckResult(
                ok=False,
                detail="salesforce: the credentials belong to another org than organization_id",
                account=account,
            )
        return CheckResult(
            ok=True, detail=f"Salesforce org {token.organization_id}", account=account
        )

    def streams(self) -> Sequence[StreamSpec]:
        """``Campaign``, ``CampaignMember``, ``Opportunity``, ``Contact``; incremental on
        ``SystemModstamp``."""
        return STREAMS

    def read(self, stream: str, cursor: str | None) -> AsyncIterator[Page]:
        """Pages of ``stream`` from ``cursor``; every page's cursor resumes right after it."""
        if stream not in STREAM_NAMES:
            raise PermanentConnectorError(f"salesforce has no stream {stream!r}")
        return self._read(stream, ModstampCursor.decode(cursor))

    async def _read(self, stream: str, cursor: ModstampCursor) -> AsyncIterator[Page]:
        shape = await self.shape(stream)
        body = await self._query(stream, shape, cursor, page=1)
        page = 1
        while True:
            records, done, next_url = self._page(stream, shape, cursor, body, page)
            log.info("salesforce.page_read", stream=stream, page=page, count=len(records))
            # The query's totalSize counts from the read's cursor: a progress total.
            total = body.get("totalSize") if page == 1 else None
            yield Page(records, cursor.encode(), total if type(total) is int else None)
            if done:
                return
            page += 1
            try:
                body = await self._vendor_page(stream, page, "GET", next_url)
            except QueryLocatorExpired:
                # The query's server-side cursor expired: ask again from where we are.
                log.info("salesforce.query_locator_expired", stream=stream, page=page)
                body = await self._query(stream, shape, cursor, page=page)

    async def _query(
        self, stream: str, shape: RecordShape, cursor: ModstampCursor, *, page: int
    ) -> Any:
        soql = f"SELECT {shape.select()} FROM {stream}{cursor.where()} ORDER BY SystemModstamp, Id"
        return await self._vendor_page(
            stream,
            page,
            "GET",
            f"{self.data_path}/queryAll",
            params={"q": soql},
            headers={"Sforce-Query-Options": f"batchSize={self.settings.page_size}"},
        )

    async def _vendor_page(self, stream: str, page: int, method: str, url: str, **kw: Any) -> Any:
        try:
            return await self.api.json(method, url, **kw)
        except PermanentConnectorError as exc:
            if type(exc) is PermanentConnectorError:
                raise PermanentConnectorError(f"salesforce: {stream} page {page}: {exc}") from exc
            raise

    def _page(
        self, stream: str, shape: RecordShape, cursor: ModstampCursor, body: Any, page: int
    ) -> tuple[list[Record], bool, str]:
        """The new records of one query answer, whether it was the last, and the next URL."""
        try:
            rows = record_list(body)
            done = body.get("done")
            next_url = body.get("nextRecordsUrl")
            if not isinstance(done, bool) or (not done and not _is_next_url(next_url)):
                raise ValueError("done/nextRecordsUrl missing")
            records = self._admit(stream, shape, cursor, rows)
        except ValueError as exc:
            raise PermanentConnectorError(
                f"salesforce: {stream} page {page}: the answer is malformed ({exc})"
            ) from None
        return records, done, "" if done else str(next_url)

    def _admit(
        self, stream: str, shape: RecordShape, cursor: ModstampCursor, rows: Sequence[Any]
    ) -> list[Record]:
        data = shape.page(rows)
        keys = list(map(_KEY, data))
        # The shape checked the types: ids are text and stamps datetimes, or None.
        if None in chain.from_iterable(keys) or not all(
            map(ID_PATTERN.fullmatch, map(itemgetter(1), keys))
        ):
            raise ValueError("a record has no Id or SystemModstamp")
        if not all(map(le, keys, islice(keys, 1, None))):
            raise ValueError("records are not in SystemModstamp, Id order")
        new = cursor.admit_sorted(keys)
        if not all(new):
            data, keys = list(compress(data, new)), list(compress(keys, new))
        deleted = list(map(is_, map(_DELETED, data), repeat(True)))
        return Record.many(stream, list(map(_ID, keys)), data, list(map(_STAMP, keys)), deleted)

    async def shape(self, stream: str) -> RecordShape:
        """The stream's fields and types (its describe, read once per instance)."""
        shape = self._shapes.get(stream)
        if shape is None:
            describe = await self.api.json("GET", f"{self.data_path}/sobjects/{stream}/describe")
            shape = RecordShape(stream, describe, self._fields[stream])
            self._shapes[stream] = shape
        return shape

    async def fetch(self, refs: Sequence[Ref]) -> list[Record]:
        """Current records (sObject Collections retrieve); unknown or deleted ids are left out."""
        by_stream: dict[str, list[str]] = {}
        for ref in refs:
            if ref.stream not in STREAM_NAMES:
                raise PermanentConnectorError(f"salesforce has no stream {ref.stream!r}")
            if is_id(ref.external_id):  # anything else cannot exist in Salesforce
                by_stream.setdefault(ref.stream, []).append(ref.external_id)
        out: list[Record] = []
        for stream, ids in by_stream.items():
            shape = await self.shape(stream)
            for start in range(0, len(ids), FETCH_BATCH):
                out += await self._retrieve(stream, shape, ids[start : start + FETCH_BATCH])
        return out

    async def _retrieve(self, stream: str, shape: RecordShape, ids: list[str]) -> list[Record]:
        body = await self.api.json(
            "POST",
            f"{self.data_path}/composite/sobjects/{stream}",
            json_body={"ids": ids, "fields": list(shape.fields)},
        )
        if not isinstance(body, list) or len(body) != len(ids):
            raise PermanentConnectorError(f"salesforce: {stream} retrieve answer is malformed")
        # None: not found, deleted, or not visible to the user.
        try:
            data = shape.page([raw for raw in body if raw is not None])
        except ValueError as exc:
            raise PermanentConnectorError(
                f"salesforce: {stream} retrieve answer is malformed ({exc})"
            ) from None
        return [_record(stream, item) for item in data]

    async def write(self, changes: Sequence[TagChange]) -> list[WriteOutcome]:
        """Salesforce is read-only for syncbridge: nothing is written back."""
        return [
            WriteOutcome(c.external_id, "failed", detail="salesforce is read-only") for c in changes
        ]

    async def parse_webhook(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        *,
        url: str = "",
        method: str = "POST",
    ) -> list[WebhookEvent]:
        """Check an outbound message and give one thin event per notification of a stream.

        ``url`` must end in the connection's ``outbound_secret`` path segment and the message
        must come from ``organization_id``; anything else, or anything malformed, raises
        ``InvalidWebhook``. Notifications about objects that are not streams are
        acknowledged and give no event. The delivery key is the notification id.
        """
        if method.upper() != "POST":
            raise InvalidWebhook("salesforce: outbound messages are POSTed")
        secret = self.settings.outbound_secret
        check_path_secret(url, secret.get_secret_value() if secret else None)
        check_content_type({k.lower(): v for k, v in headers.items()})
        message = parse_outbound_message(raw_body, self.settings.organization_id)
        events = []
        for n in message.notifications:
            if n.sobject not in STREAM_NAMES:
                log.info("salesforce.notification_ignored", sobject=n.sobject)
                continue
            events.append(
                WebhookEvent(
                    delivery_key=n.notification_id,
                    stream=n.sobject,
                    external_id=n.record_id,
                    action="updated",
                    occurred_at=_stamp_or_none(n.fields.get("SystemModstamp")),
                    payload={"action_id": message.action_id, "fields": n.fields},
                )
            )
        return events

    def webhook_reply(self, events: Sequence[WebhookEvent]) -> tuple[int, str, bytes]:  # noqa: ARG002
        """The answer Salesforce needs to stop retrying: 200 with the ``Ack`` envelope."""
        return 200, "text/xml; charset=utf-8", ACK_ENVELOPE

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client is shared and closed by its owner."""


def _record(stream: str, data: dict[str, Any]) -> Record:
    return Record(stream, data["Id"], data, data["SystemModstamp"], data["IsDeleted"] is True)


def _is_next_url(value: object) -> bool:
    """A host-relative ``nextRecordsUrl`` (``/services/data/vXX.X/query/01g...-2000``)."""
    return isinstance(value, str) and value.startswith("/") and "/services/data/" in value


def _stamp_or_none(value: str | None) -> datetime | None:
    try:
        return None if value is None else parse_stamp(value)
    except ValueError:
        return None


def factory(settings: SalesforceSettings, client: httpx.AsyncClient) -> SalesforceConnector:
    """One connector instance per connection, on the shared HTTP client."""
    return SalesforceConnector(settings, client)


__all__ = ["STREAMS", "STREAM_NAMES", "SalesforceConnector", "factory"]
