"""A Salesforce org simulator (REST API + OAuth + outbound messages) over the sandbox ``World``.

Implemented, following reference/vendor-apis.md section 2, Salesforce's REST API guide and
simple-salesforce:

* ``POST /services/oauth2/token``: client credentials and JWT bearer grants (see
  ``sim_auth``); the answer's ``instance_url`` is the simulator's own address.
* ``GET /services/data/``: the API versions (no token needed); other paths below
  ``/services/data/vXX.X/`` need ``Authorization: Bearer <token>`` (else 401
  ``INVALID_SESSION_ID``; ``expire_sessions()`` ends every session, as a timeout would), count
  against a rolling 24-hour allocation (403 ``REQUEST_LIMIT_EXCEEDED`` once used up) and
  answer ``Sforce-Limit-Info: api-usage=used/limit``.
* ``query`` and ``queryAll`` with ``q`` (the SOQL subset of ``sim_soql``; refused queries
  answer 400 ``MALFORMED_QUERY``/``INVALID_FIELD``/``INVALID_TYPE``), ``Sforce-Query-Options:
  batchSize=N``, ``nextRecordsUrl`` locators, ``totalSize``/``done``, ``attributes`` on every
  record; ``queryAll`` includes rows in the recycle bin (``IsDeleted``). See ``sim_query``.
* ``sobjects`` (describe global), ``sobjects/{object}`` (basic info), ``sobjects/{object}/
  describe``, ``sobjects/{object}/{id}[?fields=]`` (404 ``NOT_FOUND``/``ENTITY_IS_DELETED``),
  ``composite/sobjects/{object}`` GET (``ids``, ``fields``) and POST (``{"ids", "fields"}``,
  at most 2,000; unknown ids answer null), ``limits`` (``DailyApiRequests``).
* Errors in Salesforce's shape ``[{"message": ..., "errorCode": ...}]``; unknown paths 404
  ``NOT_FOUND``, wrong methods 405 ``METHOD_NOT_ALLOWED``; fault knobs via FaultMiddleware
  (injected 429/503 bodies are ``{"message", "errorCode"}`` objects, not arrays: the
  middleware takes mappings).
* ``outbound_message(record_ids)``: the SOAP notification a workflow rule would POST, with
  the URL it would call (the configured endpoint plus the connection's path secret).
* Mountable under a path prefix (ASGI ``root_path``): ``nextRecordsUrl`` and record URLs
  include it.

Left out: other grants (password, web server, refresh token), Bulk API, SOAP API, writes
(create/update/delete over REST), sub-queries, relationship fields, aggregates, SOSL,
Streaming/CDC, roll-up fields on Campaign, Leads (``LeadId`` is always null), per-object
permissions, and the concurrent long-request limit.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from syncbridge.sandbox.faults import FaultKnobs, FaultMiddleware
from syncbridge.sandbox.world import World
from syncbridge_salesforce.settings import (
    DEFAULT_CAMPAIGN_FIELDS,
    DEFAULT_CAMPAIGN_MEMBER_FIELDS,
    DEFAULT_CONTACT_FIELDS,
    DEFAULT_OPPORTUNITY_FIELDS,
)
from syncbridge_salesforce.sim_auth import (
    JWT_GRANT,
    ApiAllocation,
    ConnectedApp,
    Sessions,
    TokenError,
    basic_credentials,
    check_client_credentials,
    token_answer,
    verify_assertion,
)
from syncbridge_salesforce.sim_org import Org
from syncbridge_salesforce.sim_outbound import HEADERS, derived_id, envelope
from syncbridge_salesforce.sim_query import QueryService, batch_size
from syncbridge_salesforce.sim_records import SObjectResources, sf_error
from syncbridge_salesforce.sim_soql import SoqlError

VERSIONS = tuple(f"{n}.0" for n in range(31, 66))
CUSTOM_CAMPAIGN_FIELDS = ("UTM_Source__c", "UTM_Medium__c", "UTM_Campaign__c", "DAM_Asset_Ids__c")
_DATA = re.compile(r"/services/data/v(?P<version>\d+\.\d)(?P<rest>/.*)?")


def error_body(status: int, message: str | None = None) -> dict[str, object]:
    """The body of an injected fault (FaultMiddleware takes a mapping, not an array)."""
    code = "REQUEST_LIMIT_EXCEEDED" if status == 429 else "SERVER_UNAVAILABLE"
    return {"message": message or "simulated fault", "errorCode": code}


def _release(number: int) -> str:
    i = number - 62  # v62.0 is Winter '25
    return f"{('Winter', 'Spring', 'Summer')[i % 3]} '{25 + i // 3:02d}"


class SalesforceSimulator:
    """An ASGI app serving one simulated org, with helpers for tests and the sandbox."""

    def __init__(
        self,
        world: World,
        *,
        faults: FaultKnobs | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        jwt_public_key: rsa.RSAPublicKey | None = None,
        usernames: Sequence[str] = ("integration@acme.example",),
        daily_api_limit: int = 100_000,
        batch_cap: int = 2000,
        max_open_locators: int = 10,
        outbound_endpoint: str = "https://syncbridge.example.com/webhooks/salesforce",
        outbound_secret: str | None = None,
        public_url: str = "https://acme.my.salesforce.com",
    ) -> None:
        seed = world.seed
        self.org = Org(world)
        self.app = ConnectedApp(
            client_id=client_id or f"3MVG9sandbox.salesforce.{seed}",
            client_secret=client_secret or f"sandbox-salesforce-{seed}-consumer-secret",
            jwt_public_key=jwt_public_key,
            usernames=frozenset(usernames),
        )
        self.sessions = Sessions()
        self.allocation = ApiAllocation(limit=daily_api_limit)
        self.queries = QueryService(self.org, batch_cap=batch_cap, max_open=max_open_locators)
        self.records = SObjectResources(self.org)
        self.outbound_endpoint = outbound_endpoint.rstrip("/")
        self.outbound_secret = outbound_secret or f"sandbox-salesforce-{seed}-outbound-path"
        self.public_url = public_url.rstrip("/")
        self.requests = 0
        self.faults = faults
        self.fault_middleware: FaultMiddleware | None = None
        app: ASGIApp = self._dispatch
        if faults is not None and faults.active:
            self.fault_middleware = FaultMiddleware(app, faults, error_body=error_body)
            app = self.fault_middleware
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    # -- helpers for tests and the sandbox ---------------------------------------------------

    @property
    def organization_id(self) -> str:
        return self.org.organization_id

    def connection_settings(self, base_url: str) -> dict[str, Any]:
        """The settings of a syncbridge connection to this org served at ``base_url``.

        Client credentials (sandbox values, public), the org id and outbound path secret,
        and the Campaign custom fields this org defines.
        """
        public = base_url.rstrip("/")
        self.public_url = public
        return {
            "instance_url": public,
            "login_url": public,
            "auth_flow": "client_credentials",
            "client_id": self.app.client_id,
            "client_secret": self.app.client_secret,
            "organization_id": self.organization_id,
            "outbound_secret": self.outbound_secret,
            "campaign_fields": [*DEFAULT_CAMPAIGN_FIELDS, *CUSTOM_CAMPAIGN_FIELDS],
            "campaign_member_fields": list(DEFAULT_CAMPAIGN_MEMBER_FIELDS),
            "opportunity_fields": list(DEFAULT_OPPORTUNITY_FIELDS),
            "contact_fields": list(DEFAULT_CONTACT_FIELDS),
        }

    def expire_sessions(self) -> int:
        """End every access token (the next API call answers 401 INVALID_SESSION_ID)."""
        return self.sessions.expire_all()

    def outbound_message(
        self,
        record_ids: Sequence[str],
        *,
        organization_id: str | None = None,
        session_id: str | None = None,
        url: str | None = None,
        version: str = "v62.0",
    ) -> tuple[dict[str, str], bytes, str]:
        """``(headers, body, url)`` of the outbound message a workflow rule sends for the
        records (one notification each, at most 100, all fields). Notification ids derive
        from the record and its ``SystemModstamp``: a redelivery carries the same ones."""
        if not 1 <= len(record_ids) <= 100:
            raise ValueError("an outbound message holds 1 to 100 notifications")
        notifications = []
        for record_id in record_ids:
            table = self.org.table_of(record_id)
            if table is None or record_id not in table.rows:
                raise KeyError(record_id)
            row = table.rows[record_id]
            notification_id = derived_id("Notification", record_id, row["SystemModstamp"])
            notifications.append((notification_id, table.name, row))
        body = envelope(
            organization_id=organization_id or self.organization_id,
            action_id=derived_id("WorkflowOutboundMessage", self.organization_id, "syncbridge"),
            session_id=session_id,
            instance_url=self.public_url,
            version=version,
            notifications=notifications,
        )
        target = url or f"{self.outbound_endpoint}/{self.outbound_secret}"
        return dict(HEADERS), body, target

    # -- HTTP ------------------------------------------------------------------------------

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.requests += 1
        request = Request(scope, receive)
        response = await self._route(request)
        await response(scope, receive, send)

    async def _route(self, request: Request) -> Response:
        root = request.scope.get("root_path", "")
        path = request.scope["path"]
        path = path[len(root) :] if root and path.startswith(root) else path
        if path.rstrip("/") == "/services/oauth2/token":
            if request.method != "POST":
                return sf_error(405, "METHOD_NOT_ALLOWED", "HTTP Method not allowed")
            return await self._token(request, root)
        if path.rstrip("/") == "/services/data":
            return self._versions(request, root)
        match = _DATA.fullmatch(path)
        if match is None:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        version = match["version"]
        if version not in VERSIONS:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        if not self.sessions.valid(request.headers.get("authorization")):
            return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if not self.allocation.take():
            return sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        try:
            response = await self._api(request, f"v{version}", (match["rest"] or "/"), root)
        except SoqlError as exc:
            response = sf_error(400, exc.error_code, exc.message)
        response.headers["Sforce-Limit-Info"] = self.allocation.header()
        return response

    async def _token(self, request: Request, root: str) -> Response:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return JSONResponse(
                {"error": "invalid_request", "error_description": "must use form encoding"},
                status_code=400,
            )
        raw = (await request.body()).decode("utf-8", errors="replace")
        form = dict(parse_qsl(raw, keep_blank_values=True))
        try:
            grant = form.get("grant_type")
            if grant == "client_credentials":
                basic = basic_credentials(request.headers.get("authorization"))
                check_client_credentials(self.app, form, basic)
            elif grant == JWT_GRANT:
                verify_assertion(self.app, form.get("assertion", ""), time.time())
            else:
                raise TokenError(400, "unsupported_grant_type", "grant type not supported")
        except TokenError as exc:
            return JSONResponse(exc.body, status_code=exc.status)
        origin = f"{request.url.scheme}://{request.url.netloc}{root}"
        answer = token_answer(
            self.sessions.issue(self.organization_id),
            secret=self.app.client_secret,
            instance_url=origin,
            login_url=origin,
            org_id=self.organization_id,
            user_id=self.org.user_id,
        )
        return JSONResponse(answer)

    def _versions(self, request: Request, root: str) -> Response:
        if request.method != "GET":
            return sf_error(405, "METHOD_NOT_ALLOWED", "HTTP Method not allowed")
        return JSONResponse(
            [
                {
                    "label": _release(int(float(v))),
                    "url": f"{root}/services/data/v{v}",
                    "version": v,
                }
                for v in VERSIONS
            ]
        )

    async def _api(self, request: Request, version: str, rest: str, root: str) -> Response:
        parts = [p for p in rest.split("/") if p]
        method = request.method
        collection = parts[:2] == ["composite", "sobjects"] and len(parts) == 3
        if method != "GET" and not (method == "POST" and collection):
            return sf_error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed")
        base = f"{root}/services/data/{version}"
        if not parts:
            names = ("sobjects", "query", "queryAll", "limits", "composite")
            return JSONResponse({n: f"{base}/{n}" for n in names})
        head = parts[0]
        if head in ("query", "queryAll") and len(parts) <= 2:
            return self._query(request, head, parts[1:], version, root)
        if head == "limits" and len(parts) == 1:
            used = self.allocation.used
            limit = self.allocation.limit
            return JSONResponse({"DailyApiRequests": {"Max": limit, "Remaining": limit - used}})
        if head == "sobjects":
            return self.records.sobjects(request, parts[1:], version, root)
        if collection:
            return await self.records.collection(request, parts[2], version, root)
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")

    def _query(
        self, request: Request, resource: str, tail: list[str], version: str, root: str
    ) -> Response:
        if tail:
            locator, _, offset = tail[0].rpartition("-")
            if not locator or not offset.isdigit():
                raise SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator")
            result = self.queries.result(locator)
            if int(offset) > len(result.rows):
                raise SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator")
            return JSONResponse(
                self.queries.page(result, locator, int(offset), version=version, root=root)
            )
        soql = request.query_params.get("q")
        if soql is None:
            raise SoqlError("MALFORMED_QUERY", "A query string has to be specified")
        batch = batch_size(request.headers.get("sforce-query-options"), self.queries.batch_cap)
        result, opened = self.queries.run(soql, include_deleted=resource == "queryAll", batch=batch)
        return JSONResponse(self.queries.page(result, opened, 0, version=version, root=root))


def simulator(world: World, *, faults: FaultKnobs | None = None) -> SalesforceSimulator:
    """Build the Salesforce simulator app (``SandboxSpec.simulator``)."""
    return SalesforceSimulator(world, faults=faults)


__all__ = ["SalesforceSimulator", "error_body", "sf_error", "simulator"]
