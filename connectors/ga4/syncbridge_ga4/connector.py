"""The GA4 connector: configured runReport reports in, one record per day and dimension values.

Each configured report is a stream. A read pages ``start..today`` ordered by date (see
``read_cursor``); an incremental read re-reads the last ``lookback_days`` before its cursor
because GA4 revises recent days, and those rows come back under the same external ids.
Quota 429s wait (``quota``); an expired access token is exchanged again once per call.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import date
from http import HTTPStatus
from typing import Any

import httpx

from syncbridge.connector import metrics
from syncbridge.connector.errors import (
    AuthError,
    InvalidWebhook,
    PermanentConnectorError,
    RateLimited,
)
from syncbridge.connector.http import RetryPolicy, VendorHttp
from syncbridge.connector.jsonbody import loads
from syncbridge.connector.ratelimit import AdaptiveRateLimiter, RateLimitPolicy, parse_retry_after
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
from syncbridge_ga4.quota import QuotaError, remaining_tokens, wait_s
from syncbridge_ga4.read_cursor import ReadCursor
from syncbridge_ga4.report import Report, ReportPage, id_day
from syncbridge_ga4.settings import FIRST_GA4_DATE, Ga4Settings
from syncbridge_ga4.tokens import AccessTokens

log = get_logger(__name__)

#: Statuses whose Google error body the connector reads itself.
_READ_ERRORS = (400, 401, 403, 404, 429)


class Ga4Connector:
    """One GA4 property read with one service account. No database, no mapping."""

    def __init__(
        self,
        settings: Ga4Settings,
        client: httpx.AsyncClient,
        *,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        self.settings = settings
        limiter = AdaptiveRateLimiter(
            RateLimitPolicy(settings.rate_limit_requests, settings.rate_limit_period_s)
        )
        self.http = VendorHttp(
            client,
            base_url=f"{settings.base_url}/v1beta/",
            connector_key="ga4",
            limiter=limiter,
            retry=retry,
        )
        token_url = settings.token_endpoint()
        token_base, _, token_path = token_url.rpartition("/")
        token_http = VendorHttp(
            client,
            base_url=token_base + "/",
            connector_key="ga4",
            limiter=AdaptiveRateLimiter(RateLimitPolicy(10, 1.0)),
            retry=retry,
        )
        self.tokens = AccessTokens(
            settings.service_account(),
            token_http,
            token_path=token_path,
            audience=token_url,
            clock=limiter.clock,
            wall_clock=limiter.wall_clock,
        )
        self.reports = {
            name: Report(name, settings.property_id, report)
            for name, report in settings.reports.items()
        }
        self.property_path = f"properties/{settings.property_id}"
        self.report_path = f"{self.property_path}:runReport"
        #: ``propertyQuota`` of the last answer (tokens left this hour and day).
        self.last_quota: Mapping[str, Any] = {}

    # ----- the protocol ------------------------------------------------------------------

    async def check(self) -> CheckResult:
        """Read the property's metadata: proves the key, the access, and the report names.

        Refused credentials raise ``AuthError``; unknown dimension or metric names answer
        not ok, naming them.
        """
        try:
            body = await self._call("GET", f"{self.property_path}/metadata", where="check")
        except AuthError:
            raise
        except PermanentConnectorError as exc:
            return CheckResult(ok=False, detail=str(exc))
        known = _metadata_names(body)
        if known is None:
            return CheckResult(ok=False, detail="ga4: the metadata answer is not metadata")
        unknown = [
            f"{name}: {field}"
            for name, report in self.settings.reports.items()
            for field in [*report.dimensions, *report.metrics]
            if field not in known
        ]
        account = {
            "property_id": self.settings.property_id,
            "service_account": self.tokens.key.client_email,
        }
        if unknown:
            detail = "ga4: the property does not know " + ", ".join(unknown[:20])
            return CheckResult(ok=False, detail=detail, account=account)
        return CheckResult(
            ok=True, detail=f"GA4 property {self.settings.property_id}", account=account
        )

    def streams(self) -> Sequence[StreamSpec]:
        """One stream per configured report, incremental on ``date``."""
        return [report.spec for report in self.reports.values()]

    def read(self, stream: str, cursor: str | None) -> AsyncIterator[Page]:
        """Pages of one report from ``cursor`` (see ``read_cursor`` for what it holds)."""
        report = self._report(stream)
        start = self.settings.start_date
        position = ReadCursor.decode(
            cursor,
            first=self.settings.start_expression(),
            lookback_days=self.settings.lookback_days,
            floor=start if isinstance(start, date) else None,
        )
        return self._read(report, position)

    async def fetch(self, refs: Sequence[Ref]) -> list[Record]:
        """Rows by external id: each id's day is read again; ids not found are left out."""
        wanted: dict[tuple[str, date], set[str]] = defaultdict(set)
        for ref in refs:
            self._report(ref.stream)
            day = id_day(ref.external_id)
            if day is not None and day >= FIRST_GA4_DATE:
                wanted[(ref.stream, day)].add(ref.external_id)
        found: dict[tuple[str, str], Record] = {}
        for (stream, day), ids in wanted.items():
            async for record in self._day(self.reports[stream], day):
                if record.external_id in ids:
                    found[(stream, record.external_id)] = record
        out: list[Record] = []
        for ref in refs:
            hit = found.pop((ref.stream, ref.external_id), None)
            if hit is not None:
                out.append(hit)
        return out

    async def write(self, changes: Sequence[TagChange]) -> list[WriteOutcome]:
        """GA4 is read-only here: every change fails."""
        return [WriteOutcome(c.external_id, "failed", "ga4 is read-only") for c in changes]

    async def parse_webhook(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        *,
        url: str = "",
        method: str = "POST",
    ) -> list[WebhookEvent]:
        """GA4 sends no webhooks: every delivery is refused."""
        del headers, raw_body, url, method
        raise InvalidWebhook("ga4 sends no webhooks")

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client is shared and closed by its owner."""

    # ----- reading -----------------------------------------------------------------------

    def _report(self, stream: str) -> Report:
        report = self.reports.get(stream)
        if report is None:
            raise PermanentConnectorError(f"ga4 has no stream {stream!r}")
        return report

    async def _read(self, report: Report, position: ReadCursor) -> AsyncIterator[Page]:
        first = True
        while True:
            where = f"stream {report.stream!r}, page at {position.start}+{position.skip}"
            page = await self._run_report(report, position.start, "today", position.skip, where)
            _check_order(page.days, position.start, where)
            following = position.after_page(page.days)
            log.info("ga4.page_read", stream=report.stream, count=len(page.records))
            # The first answer's rowCount (past the rows skipped): the read's progress total.
            total = max(page.row_count - position.skip, 0) if first else None
            first = False
            if not page.records or position.skip + len(page.records) >= page.row_count:
                yield Page(page.records, following.watermark(), total=total)
                return
            yield Page(page.records, following.encode(), total=total)
            position = following

    async def _day(self, report: Report, day: date) -> AsyncIterator[Record]:
        offset = 0
        while True:
            where = f"stream {report.stream!r}, fetch of {day.isoformat()}+{offset}"
            page = await self._run_report(report, day.isoformat(), day.isoformat(), offset, where)
            if any(d != day.isoformat() for d in page.days):
                raise PermanentConnectorError(f"ga4: {where}: rows of another day came back")
            for record in page.records:
                yield record
            offset += len(page.records)
            if not page.records or offset >= page.row_count:
                return

    async def _run_report(
        self, report: Report, start: str, end: str, offset: int, where: str
    ) -> ReportPage:
        """Rows ``offset..`` of ``start..end``; the JSON answer is let go once it is read."""
        body = report.body(start, end, offset=offset, limit=self.settings.page_size)
        response = await self._send("POST", self.report_path, body, where)
        page = report.page_of(response.content, where)
        self._note_quota(page.property_quota)
        return page

    # ----- one call ----------------------------------------------------------------------

    async def _call(self, method: str, path: str, json: Any = None, where: str = "") -> Any:
        """One API call (see ``_send``), its answer decoded; not JSON: PermanentConnectorError."""
        response = await self._send(method, path, json, where)
        try:
            body = loads(response.content)
        except ValueError:
            raise PermanentConnectorError(f"ga4: {where}: the answer is not JSON") from None
        if isinstance(body, dict):
            self._note_quota(body.get("propertyQuota"))
        return body

    async def _send(
        self, method: str, path: str, json: Any = None, where: str = ""
    ) -> httpx.Response:
        """One API call with a bearer token, up to its 2xx answer: 401 exchanges a new token
        once, 429 waits; other refusals raise."""
        refreshed, waited, quota_hits = False, 0.0, 0
        while True:
            token = await self.tokens.get()
            response = await self.http.request(
                method,
                path,
                json=json,
                headers={"Authorization": f"Bearer {token}"},
                allow_status=_READ_ERRORS,
            )
            status = response.status_code
            if 200 <= status < 300:
                return response
            error = _json_or_none(response)
            if status == 401 and not refreshed:
                self.tokens.invalidate(token)
                refreshed = True
                continue
            if status in (401, 403):
                raise AuthError(f"ga4: {where} was refused: {_google_message(error, status)}")
            if status != 429:
                raise PermanentConnectorError(
                    f"ga4: {where} was refused: {_google_message(error, status)}"
                )
            wait = self._quota_wait(response, error, quota_hits)
            quota_hits += 1
            waited += wait
            if waited > self.settings.quota_max_wait_s:
                raise RateLimited(f"ga4: {where}: quota exhausted", retry_after=wait)
            self.http.limiter.pause_for(wait)

    def _note_quota(self, quota: Any) -> None:
        """Keep an answer's ``propertyQuota``; pause the limiter when the hour's tokens are
        spent."""
        if isinstance(quota, dict) and quota:
            self.last_quota = quota
            left = remaining_tokens(quota)
            if left is not None and left <= 0:
                # The hour's tokens are gone: the next call would only be refused.
                limiter = self.http.limiter
                hourly = QuotaError("hourly", "no tokens left this hour")
                wait = wait_s(
                    hourly, wall_now=limiter.wall_clock(), attempt=0, concurrency_wait_s=0
                )
                log.info("ga4.quota_spent", wait_s=round(wait, 1))
                limiter.pause_for(wait)

    def _quota_wait(self, response: httpx.Response, error: Any, attempt: int) -> float:
        metrics.record_rate_limited("ga4")
        limiter = self.http.limiter
        retry_after = parse_retry_after(
            response.headers.get("Retry-After"), now=limiter.vendor_now(response.headers)
        )
        if retry_after is not None:
            return max(retry_after, limiter.policy.min_retry_after_s)
        quota = QuotaError.read(error)
        wait = wait_s(
            quota,
            wall_now=limiter.wall_clock(),
            attempt=attempt,
            concurrency_wait_s=self.settings.quota_concurrency_wait_s,
        )
        log.info(
            "ga4.quota_exhausted",
            kind=quota.kind,
            wait_s=round(wait, 1),
            hourly_left=remaining_tokens(self.last_quota),
        )
        if quota.kind == "daily":
            raise RateLimited(f"ga4: daily quota exhausted: {quota.message}", retry_after=wait)
        return wait


def _check_order(days: list[str], start: str, where: str) -> None:
    """Rows must come by date ascending and not before the requested start."""
    absolute = len(start) == 10 and start[4] == "-"
    # ``sorted`` of a sorted list is one C-level pass.
    if days != sorted(days) or (days and absolute and days[0] < start):
        raise PermanentConnectorError(f"ga4: {where}: rows are not ordered by date")


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _google_message(body: Any, status: int) -> str:
    """``HTTP 400 INVALID_ARGUMENT: <message>`` from Google's error envelope, bounded."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    state = error.get("status") if isinstance(error.get("status"), str) else None
    message = error.get("message") if isinstance(error.get("message"), str) else None
    phrase = state or HTTPStatus(status).phrase
    return f"HTTP {status} {phrase}" + (f": {message[:300]}" if message else "")


def _metadata_names(body: Any) -> set[str] | None:
    if not isinstance(body, dict):
        return None
    names: set[str] = set()
    for kind in ("dimensions", "metrics"):
        items = body.get(kind, [])
        if not isinstance(items, list):
            return None
        names.update(i["apiName"] for i in items if isinstance(i, dict) and "apiName" in i)
    return names


def factory(settings: Ga4Settings, client: httpx.AsyncClient) -> Ga4Connector:
    """One connector instance per connection, on the shared HTTP client."""
    return Ga4Connector(settings, client)


__all__ = ["Ga4Connector", "factory"]
