"""A Google Analytics 4 Data API (v1beta) simulator built from the sandbox ``World``.

Implemented, following reference/vendor-apis.md section 3 and the official client:

* ``POST /token``: Google's OAuth token endpoint for service accounts, the JWT-bearer grant
  (``urn:ietf:params:oauth:grant-type:jwt-bearer``) with the assertion's RS256 signature
  checked against the sandbox account's public key, ``aud`` = the token URI (Google's or this
  one), ``iat``/``exp`` at most an hour apart around now, a scope; OAuth error JSON
  (``sim_auth``). API calls take the issued bearer tokens, or self-signed JWTs (what the
  client libraries send for service accounts).
* ``POST /v1beta/properties/{id}:runReport`` (``sim_query``, ``sim_filters``, ``sim_engine``):
  one ``dateRanges`` entry (``YYYY-MM-DD``, ``today``, ``yesterday``, ``NdaysAgo``, with the
  world's ``analytics_end`` as today, movable with ``advance_day``); dimensions ``date``,
  ``pagePath``, ``sessionCampaignName``, ``sessionSourceMedium``, ``sessionSource``,
  ``sessionMedium``, ``customEvent:asset_id``; metrics ``screenPageViews``, ``sessions``,
  ``eventCount``, ``keyEvents`` (alias ``conversions``), ``totalRevenue``; aggregation over
  unrequested dimensions; ``dimensionFilter`` and ``metricFilter`` (see ``sim_filters``);
  ``orderBys``; ``limit`` (default 10,000, capped at 250,000) and ``offset``;
  ``keepEmptyRows``; ``metricAggregations`` TOTAL/MINIMUM/MAXIMUM; ``returnPropertyQuota``;
  ``rowCount``; ``metricHeaders`` with types (numbers with ``$alt=json;enum-encoding=int``);
  every value a string. Unknown fields, names and unsupported features: 400
  ``INVALID_ARGUMENT`` in Google's envelope.
* ``GET /v1beta/properties/{id}/metadata``: the property's dimensions and metrics.
* Auth errors 401 ``UNAUTHENTICATED`` / 403 ``PERMISSION_DENIED`` (another property,
  missing scope); quotas (``sim_quota``): tokens per hour, per project per hour and per day,
  concurrent requests, all 429 ``RESOURCE_EXHAUSTED``; unknown routes 404 ``NOT_FOUND``.
* Late data: rows of the world's last ``LATE_DAYS`` days grow with ``revise()``.
* ``FaultMiddleware`` knobs with Google-shaped error bodies; mountable under a path prefix.

Left out: several date ranges per request, cohorts, comparisons, pivots and pivot reports,
batch and realtime reports, ``checkCompatibility``, audience exports (501 ``UNIMPLEMENTED``),
metric and dimension expressions, the COUNT aggregation, currency conversion (USD only),
sampling and thresholding metadata, "(other)" rows, the server-errors quota, partial responses
(``fields``), and API keys.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from datetime import date, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from syncbridge.sandbox.faults import FaultKnobs, FaultMiddleware
from syncbridge.sandbox.world import AnalyticsRow, World
from syncbridge_ga4.sim_auth import (
    ApiAuthError,
    OAuthError,
    SandboxServiceAccount,
    TokenIssuer,
)
from syncbridge_ga4.sim_engine import ReportEngine, Result, format_value
from syncbridge_ga4.sim_errors import GoogleError, invalid
from syncbridge_ga4.sim_query import Query, parse_query
from syncbridge_ga4.sim_quota import PropertyQuota, token_cost
from syncbridge_ga4.sim_schema import METRIC_TYPE_NUMBERS, metadata

MAX_BODY_BYTES = 1024 * 1024
JSON = "application/json"
MAX_TOKEN_REQUEST_BYTES = 16 * 1024
_METHOD = re.compile(r"/v1beta/properties/([^/:]+):([A-Za-z]+)")
_METADATA = re.compile(r"/v1beta/properties/([^/:]+)/metadata")
UNIMPLEMENTED = frozenset(
    {
        "batchRunReports",
        "runPivotReport",
        "batchRunPivotReports",
        "runRealtimeReport",
        "checkCompatibility",
    }
)
#: Google's system parameters that do not change an answer's content (``$alt`` is read).
QUERY_PARAMETERS = frozenset({"$alt", "alt", "prettyPrint", "quotaUser", "$.xgafv"})
PERMISSION = (
    "User does not have sufficient permissions for this property. To learn more about "
    "Property ID, see https://developers.google.com/analytics/devguides/reporting/data/v1/"
    "property-id."
)
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
}


def error_body(status: int, message: str | None = None) -> dict[str, object]:
    """Google's error envelope for a status (also what injected faults answer)."""
    text = message or {
        429: "Resource has been exhausted (e.g. check quota).",
        503: "The service is currently unavailable.",
    }.get(status, HTTPStatus(status).phrase)
    name = STATUS_NAMES.get(status, "UNKNOWN")
    return {"error": {"code": status, "message": text, "status": name}}


def _error(exc: GoogleError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.code)


class Ga4Simulator:
    """An ASGI app serving one simulated GA4 property, with helpers for tests and demos."""

    def __init__(
        self,
        world: World,
        *,
        faults: FaultKnobs | None = None,
        account: SandboxServiceAccount | None = None,
        property_id: str | None = None,
        today: date | None = None,
        quota: PropertyQuota | None = None,
        wall_clock: Callable[[], float] = time.time,
        report_latency_s: float = 0.0,
        time_zone: str = "America/New_York",
    ) -> None:
        self.world = world
        self.account = account or SandboxServiceAccount.generate(world.seed)
        self.property_id = property_id or str(300_000_000 + world.seed)
        self.issuer = TokenIssuer([self.account], wall_clock=wall_clock)
        self.engine = ReportEngine(world, today=today)
        self.quota = quota or PropertyQuota()
        self.quota.wall_clock = wall_clock
        self.report_latency_s = report_latency_s
        self.time_zone = time_zone
        self.requests = 0
        self.report_requests = 0
        self.fault_middleware: FaultMiddleware | None = None
        app: ASGIApp = self._serve
        if faults is not None and faults.active:
            self.fault_middleware = FaultMiddleware(app, faults, error_body=error_body)
            app = self.fault_middleware
        self._app = app
        self.sandbox_info: dict[str, str] = {
            "property_id": self.property_id,
            "service_account": self.account.client_email,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        await self._app(scope, receive, send)

    # -- helpers for tests and the sandbox ---------------------------------------------------

    def connection_settings(self, base_url: str) -> dict[str, Any]:
        """The settings of a syncbridge connection to this simulator served at ``base_url``."""
        public = base_url.rstrip("/")
        token_url = f"{public}/token"
        self.issuer.audiences.add(token_url)
        return {
            "property_id": self.property_id,
            "service_account_json": json.dumps(self.account.key_file(token_uri=token_url)),
            "base_url": public,
            "token_url": token_url,
            "start_date": 90,
            "lookback_days": 3,
        }

    def key_file(self, token_uri: str) -> dict[str, str]:
        """The sandbox service account's key file, pointing at ``token_uri``."""
        self.issuer.audiences.add(token_uri)
        return self.account.key_file(token_uri=token_uri)

    @property
    def today(self) -> date:
        return self.engine.today

    def revise(self) -> int:
        """GA4 processes late hits: the last ``LATE_DAYS`` days' values grow; the new revision."""
        self.engine.revision += 1
        return self.engine.revision

    def advance_day(self) -> date:
        """The property's today moves one day on (up to the world's last day). Returns it."""
        self.engine.today = min(self.engine.today + timedelta(days=1), self.world.analytics_end)
        return self.engine.today

    def expire_tokens(self) -> None:
        """Every access token issued so far expires now."""
        self.issuer.expire_all()

    def rows(self, day: date) -> list[AnalyticsRow]:
        """The world's rows of ``day`` as this property serves them now (none after today)."""
        if day > self.today:
            return []
        return self.world.analytics_rows(day, self.engine.effective_revision(day))

    # -- HTTP ------------------------------------------------------------------------------

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.requests += 1
        request = Request(scope, receive)
        try:
            response = await self._dispatch(request, _route_path(scope))
        except GoogleError as exc:
            response = _error(exc)
        await response(scope, receive, send)

    async def _dispatch(self, request: Request, path: str) -> Response:
        if path == "/token":
            if request.method != "POST":
                raise GoogleError(404, "NOT_FOUND", "Method not found.")
            return await self._token(request)
        if method := _METHOD.fullmatch(path):
            name = method.group(2)
            if name == "runReport" and request.method == "POST":
                self._authorised(request, method.group(1))
                return await self._run_report(request)
            if name in UNIMPLEMENTED:
                raise GoogleError(
                    501, "UNIMPLEMENTED", f"{name} is not implemented by the simulator"
                )
        elif (meta := _METADATA.fullmatch(path)) and request.method == "GET":
            self._authorised(request, meta.group(1))
            _check_query(request, enums=False)
            return JSONResponse(metadata(self.property_id))
        raise GoogleError(404, "NOT_FOUND", "Method not found.")

    def _authorised(self, request: Request, property_id: str) -> None:
        try:
            self.issuer.authorise(request.headers.get("authorization"))
        except ApiAuthError as exc:
            status = "UNAUTHENTICATED" if exc.code == 401 else "PERMISSION_DENIED"
            raise GoogleError(exc.code, status, exc.message) from None
        if not property_id.isdigit():
            raise invalid(f"Invalid property ID: {property_id[:40]}. A property ID is numeric.")
        if property_id != self.property_id:
            raise GoogleError(403, "PERMISSION_DENIED", PERMISSION)

    async def _token(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        raw = await _body(request, MAX_TOKEN_REQUEST_BYTES)
        if raw is None or not content_type.startswith("application/x-www-form-urlencoded"):
            error = OAuthError("invalid_request", "Expected a form-encoded token request.")
            return JSONResponse(error.body(), status_code=400)
        form = dict(parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True))
        url = str(request.url.replace(query=""))
        try:
            answer = self.issuer.exchange(form, request_url=url)
        except OAuthError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return JSONResponse(answer, headers={"Cache-Control": "no-cache, no-store"})

    async def _run_report(self, request: Request) -> Response:
        enums_as_numbers = _check_query(request, enums=True)
        raw = await _body(request, MAX_BODY_BYTES)
        if raw is None:
            raise GoogleError(413, "INVALID_ARGUMENT", "Request payload size exceeds the limit.")
        try:
            body = json.loads(raw or b"{}")
        except (ValueError, RecursionError):
            raise invalid("Invalid JSON payload received. Unexpected token.") from None
        query = parse_query(body, property_id=self.property_id, today=self.engine.today)
        with self.quota.running():
            if self.report_latency_s:
                await asyncio.sleep(self.report_latency_s)
            result = self.engine.run(query)
            self.quota.charge(token_cost(result.row_count))
        self.report_requests += 1
        return Response(self._report_body(query, result, enums_as_numbers), 200, media_type=JSON)

    def _report_body(self, query: Query, result: Result, enums_as_numbers: bool) -> bytes:
        """The RunReportResponse; rows come pre-rendered from the engine and are spliced in."""
        metric_types = [
            METRIC_TYPE_NUMBERS[m.type] if enums_as_numbers else m.type for m in query.metrics
        ]
        head: dict[str, Any] = {
            "dimensionHeaders": [{"name": n} for n in query.dimension_names],
            "metricHeaders": [
                {"name": n, "type": t}
                for n, t in zip(query.metric_names, metric_types, strict=True)
            ],
        }
        tail: dict[str, Any] = {}
        width = len(query.dimensions)
        for name, field in (("TOTAL", "totals"), ("MAXIMUM", "maximums"), ("MINIMUM", "minimums")):
            if name in query.aggregations:
                values = [{"value": format_value(v)} for v in getattr(result, field)]
                reserved = [{"value": f"RESERVED_{name}"}] * width
                tail[field] = [{"dimensionValues": reserved, "metricValues": values}]
        if result.row_count:
            tail["rowCount"] = result.row_count
        tail["metadata"] = {"currencyCode": "USD", "timeZone": self.time_zone}
        if query.return_quota:
            tail["propertyQuota"] = self.quota.status()
        tail["kind"] = "analyticsData#runReport"
        parts = [json.dumps(head)[:-1]]
        if result.rows:
            parts.append(',"rows":[' + ",".join(result.rows) + "]")
        parts.append("," + json.dumps(tail)[1:])
        return "".join(parts).encode()


def _check_query(request: Request, *, enums: bool) -> bool:
    """Refuse unknown query parameters; True when enums are to be answered as numbers."""
    for name in request.query_params:
        if name not in QUERY_PARAMETERS:
            raise invalid(
                f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query '
                "parameter. Field '" + name + "' could not be found in request message."
            )
    alt = request.query_params.get("$alt") or request.query_params.get("alt") or "json"
    parts = [p.strip() for p in alt.split(";")]
    if parts[0] != "json" or any(p not in ("enum-encoding=int",) for p in parts[1:]):
        raise invalid(f"The simulator answers JSON only, not {alt[:40]}")
    return enums and "enum-encoding=int" in parts[1:]


async def _body(request: Request, limit: int) -> bytes | None:
    """The request body, or None when it is larger than ``limit``."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _route_path(scope: Scope) -> str:
    """The request path below the simulator's mount point (the ASGI ``root_path``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def simulator(world: World, *, faults: FaultKnobs | None = None, **options: Any) -> Ga4Simulator:
    """Build the GA4 simulator app (``SandboxSpec.simulator``); options go to ``Ga4Simulator``."""
    return Ga4Simulator(world, faults=faults, **options)


__all__ = ["Ga4Simulator", "error_body", "simulator"]
