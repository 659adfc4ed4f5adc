"""A Bynder portal simulator (API v4 + SNS webhooks) built from the sandbox ``World``.

Implemented, following reference/vendor-apis.md section 4 and the official SDKs:

* ``Authorization: Bearer <permanent token>`` on every ``/api/`` call; a missing or wrong
  token answers 401 ``{"message": ..., "statuscode": 401}`` (the shape of Bynder's v4
  answers such as the 202 below; the exact 401 text is UNVERIFIED).
* ``GET /api/v4/media/``: ``page`` (1-based), ``limit`` (default 50, capped at 1000),
  ``orderBy`` (``dateModified|dateCreated|name asc|desc``, default ``dateCreated desc``,
  ties broken by id), filters ``dateModified`` (at or after), ``type``, ``tags`` (all of),
  ``ids``, ``propertyOptionId`` (all of), ``keyword``; a bare JSON array, or with ``count=1``
  ``{"count": {"total": N, "type": {...}}, "media": [...]}``.
* ``GET /api/v4/media/{id}/`` (404 unknown) in Bynder's field names and types: 0/1 flags,
  ISO ``Z`` dates to the second, ``property_<Name>`` option-name lists, ``propertyOptions``.
* ``POST /api/v4/media/{id}/`` (or ``/api/v4/media/`` with an ``id`` field), form-encoded:
  ``tags`` replaces the tag set, ``metaproperty.<id>=<optionId>[,...]`` replaces that
  metaproperty's options (empty clears), ``name``/``description``/``copyright``. Answers 202
  ``{"message":"Accepted","statuscode":202}`` and applies the change ``write_delay_s`` later,
  bumping ``dateModified``. A JSON body is accepted with 202 and ignored, as Bynder does.
* ``GET /api/v4/metaproperties/`` (object keyed by name), ``GET .../{id}/``,
  ``POST .../{id}/options/`` with form field ``data=<JSON>`` (answer shape UNVERIFIED).
* ``GET /api/v4/tags/`` ``[{id, tag, mediaCount}]``, ``GET /api/v4/account/``.
* 4,500 requests per 5 minutes per client IP, then 429 until the IP has been quiet for
  5 minutes (requests during the block extend it); no rate-limit headers. All configurable.
* SNS deliveries signed with a test key (``notification``, ``subscription_confirmation``),
  the signing certificate at its SNS-style path and a ``SubscribeURL`` endpoint.
* Mountable under a path prefix (ASGI ``root_path``); ``connection_settings(base_url)``
  gives a connection's settings for the public address and points the SNS URLs there.

Left out: OAuth 2 flows, uploads, downloads, collections, brands, usage, workflow, derivatives,
text/date metaproperties, the ``total=1`` variant, versions, and the v7 webhooks API.
"""

from __future__ import annotations

import hmac
import json
from collections import Counter
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from syncbridge.sandbox.faults import FaultKnobs, FaultMiddleware
from syncbridge.sandbox.world import World
from syncbridge_bynder.sim_sns import Delivery, SigningIdentity, SnsTopic
from syncbridge_bynder.sim_state import BadRequest, BynderPortal, IpRateLimit, bynder_id

MAX_LIMIT = 1000
DEFAULT_LIMIT = 50


def error_body(status: int, message: str | None = None) -> dict[str, object]:
    """Bynder's v4 answer shape for a status: ``{"message": ..., "statuscode": N}``."""
    return {"message": message or HTTPStatus(status).phrase, "statuscode": status}


def _error(status: int, message: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status)


class BynderSimulator:
    """An ASGI app serving one simulated Bynder portal, with inspection helpers for tests."""

    def __init__(
        self,
        world: World,
        *,
        faults: FaultKnobs | None = None,
        token: str | None = None,
        write_delay_s: float = 0.2,
        rate_limit: int = 4500,
        rate_window_s: float = 300.0,
        rate_block_s: float = 300.0,
        sns_region: str = "eu-west-1",
        sns_public_base_url: str | None = None,
        identity: SigningIdentity | None = None,
        account_name: str = "Acme Corp (sandbox)",
    ) -> None:
        self.portal = BynderPortal(world, write_delay_s=write_delay_s)
        self.rate_limit = IpRateLimit(rate_limit, rate_window_s, rate_block_s)
        self.topic = SnsTopic(
            identity or SigningIdentity.generate(),
            region=sns_region,
            public_base_url=sns_public_base_url,
        )
        self.token = token or f"sandbox-bynder-{world.seed}-permanent-token"
        self.account = {
            "id": bynder_id(world.seed, "account"),
            "name": account_name,
            "availableLanguages": ["en_US"],
            "defaultLanguage": "en_US",
            "timeZone": "Europe/Amsterdam",
        }
        self.faults = faults
        self.requests = 0
        self.cert_downloads = 0
        self.rate_limited = 0
        self.fault_middleware: FaultMiddleware | None = None
        app: ASGIApp = self._router()
        if faults is not None and faults.active:
            self.fault_middleware = FaultMiddleware(app, faults, error_body=error_body)
            app = self.fault_middleware
        self._app = app
        tier = self.portal.metaproperty_by_name("PerformanceTier")
        self.sandbox_info: dict[str, str] = {
            "token": self.token,
            "base_url_path": "",
            "cert_pem": self.topic.identity.cert_pem,
            "topic_arn": self.topic.arn,
            "owned_metaproperty_id": tier["id"],
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    # -- helpers for tests and the sandbox ---------------------------------------------------

    def connection_settings(self, base_url: str) -> dict[str, Any]:
        """The settings of a syncbridge connection to this portal served at ``base_url``.

        ``base_url`` becomes the portal's public address: the ``SigningCertURL`` and
        ``SubscribeURL`` of later SNS deliveries point under it. The SNS certificate is pinned
        (it is a test key) and the fetch delay covers the simulated write delay. The IP block
        after a 429 is the simulator's own, or the injected ``Retry-After`` when 429s are
        injected (those are not Bynder blocks, and waiting 5 minutes would stall a demo).
        """
        public = base_url.rstrip("/")
        self.topic.public_base_url = public
        self.sandbox_info["base_url"] = public
        block_s = self.rate_limit.block_s
        if self.faults is not None and self.faults.rate_429:
            block_s = min(block_s, max(float(self.faults.retry_after_s), 1.0))
        return {
            "base_url": public,
            "permanent_token": self.token,
            "owned_metaproperty_id": self.sandbox_info["owned_metaproperty_id"],
            "sns_topic_arns": [self.topic.arn],
            "sns_pinned_cert_pem": self.topic.identity.cert_pem,
            "fetch_delay_s": self.portal.write_delay_s,
            "rate_limit_requests": self.rate_limit.max_requests,
            "rate_limit_period_s": self.rate_limit.window_s,
            "rate_limit_block_s": block_s,
        }

    def notification(
        self, subject: str, media_id: str, *, signature_version: str = "1"
    ) -> Delivery:
        """A signed SNS delivery of a Bynder event (e.g. ``asset_bank.media.updated``)."""
        return self.topic.notification(subject, media_id, signature_version=signature_version)

    def subscription_confirmation(self, *, signature_version: str = "1") -> Delivery:
        """A signed SNS ``SubscriptionConfirmation`` for this portal's topic."""
        return self.topic.subscription_confirmation(signature_version=signature_version)

    def apply_pending(self) -> int:
        """Apply every accepted write now (instead of waiting for ``write_delay_s``)."""
        return self.portal.apply_pending()

    def media(self, media_id: str) -> dict[str, Any]:
        """The current state of one medium (after applying the writes that are due)."""
        self.portal.apply_due()
        return self.portal.media[media_id]

    def edit_tags(self, media_id: str, tags: list[str]) -> None:
        """A person edits an asset's tags in the portal (applied at once)."""
        self.portal.accept_write(media_id, {"tags": ",".join(tags)})
        self.portal.apply_pending()

    # -- HTTP ------------------------------------------------------------------------------

    def _router(self) -> ASGIApp:
        routes = [
            Route("/api/v4/media/", self._media_list, methods=["GET"]),
            Route("/api/v4/media/", self._media_modify_by_field, methods=["POST"]),
            Route("/api/v4/media/{media_id}/", self._media_info, methods=["GET"]),
            Route("/api/v4/media/{media_id}/", self._media_modify, methods=["POST"]),
            Route("/api/v4/metaproperties/", self._metaproperties, methods=["GET"]),
            Route("/api/v4/metaproperties/{mp_id}/", self._metaproperty, methods=["GET"]),
            Route("/api/v4/metaproperties/{mp_id}/options/", self._create_option, methods=["POST"]),
            Route("/api/v4/tags/", self._tags, methods=["GET"]),
            Route("/api/v4/account/", self._account, methods=["GET"]),
            Route(self.topic.cert_path, self._cert, methods=["GET"]),
            Route("/", self._sns_action, methods=["GET"]),
        ]
        return _Edge(Starlette(routes=routes), self)

    def authorised(self, header: str | None) -> bool:
        expected = f"Bearer {self.token}".encode()
        return header is not None and hmac.compare_digest(header.encode(), expected)

    async def _media_list(self, request: Request) -> Response:
        params = request.query_params
        try:
            page, limit = _paging(params)
            chunk, total, matched = self.portal.listing_page(params, page, limit)
        except BadRequest as exc:
            return _error(400, str(exc))
        if params.get("count") == "1" and matched is not None:
            types = Counter(m["type"] for m in matched)
            return JSONResponse({"count": {"total": total, "type": types}, "media": chunk})
        return JSONResponse(chunk)

    async def _media_info(self, request: Request) -> Response:
        media = self.portal.media.get(request.path_params["media_id"])
        if media is None:
            return _error(404, "Media not found")
        return JSONResponse(media)

    async def _media_modify(self, request: Request) -> Response:
        return await self._modify(request.path_params["media_id"], await _form(request))

    async def _media_modify_by_field(self, request: Request) -> Response:
        form = await _form(request)
        if "id" not in form:
            return _error(400, "id is required")
        return await self._modify(form["id"], form)

    async def _modify(self, media_id: str, form: Mapping[str, str]) -> Response:
        try:
            self.portal.accept_write(media_id, form)
        except KeyError:
            return _error(404, "Media not found")
        except BadRequest as exc:
            return _error(400, str(exc))
        return JSONResponse({"message": "Accepted", "statuscode": 202}, status_code=202)

    async def _metaproperties(self, _request: Request) -> Response:
        return JSONResponse(
            {mp["name"]: self._with_counts(mp) for mp in self.portal.metaproperties.values()}
        )

    async def _metaproperty(self, request: Request) -> Response:
        mp = self.portal.metaproperties.get(request.path_params["mp_id"])
        if mp is None:
            return _error(404, "Metaproperty not found")
        return JSONResponse(self._with_counts(mp))

    def _with_counts(self, mp: Mapping[str, Any]) -> dict[str, Any]:
        counts = Counter(o for m in self.portal.media.values() for o in m["propertyOptions"])
        options = [{**o, "mediaCount": counts[o["id"]]} for o in mp["options"]]
        return {**mp, "options": options}

    async def _create_option(self, request: Request) -> Response:
        mp_id = request.path_params["mp_id"]
        if mp_id not in self.portal.metaproperties:
            return _error(404, "Metaproperty not found")
        try:
            data = json.loads((await _form(request)).get("data", ""))
            if not isinstance(data, dict) or not isinstance(data.get("name"), str):
                raise BadRequest("data must be a JSON object with a name")
            label = data.get("label")
            option = self.portal.add_option(
                mp_id, data["name"], label if isinstance(label, str) else None
            )
        except (ValueError, BadRequest) as exc:
            return _error(400, str(exc))
        body = {"message": "Created", "statuscode": 201, "id": option["id"]}
        return JSONResponse(body, status_code=201)

    async def _tags(self, request: Request) -> Response:
        try:
            page, limit = _paging(request.query_params)
        except BadRequest as exc:
            return _error(400, str(exc))
        counts = sorted(self.portal.tag_counts().items())
        tags = [
            {"id": bynder_id(self.portal.world.seed, "tag", tag), "tag": tag, "mediaCount": n}
            for tag, n in counts
        ]
        return JSONResponse(tags[(page - 1) * limit : page * limit])

    async def _account(self, _request: Request) -> Response:
        return JSONResponse(self.account)

    async def _cert(self, _request: Request) -> Response:
        self.cert_downloads += 1
        return Response(self.topic.identity.cert_pem, media_type="text/plain")

    async def _sns_action(self, request: Request) -> Response:
        params = request.query_params
        if params.get("Action") != "ConfirmSubscription":
            return Response(_sns_error("InvalidAction"), 400, media_type="text/xml")
        if not self.topic.confirm(params.get("TopicArn", ""), params.get("Token", "")):
            return Response(_sns_error("InvalidParameter"), 400, media_type="text/xml")
        arn = f"{self.topic.arn}:{bynder_id('subscription', len(self.topic.confirmed))}"
        body = (
            '<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
            f"<ConfirmSubscriptionResult><SubscriptionArn>{arn}</SubscriptionArn>"
            "</ConfirmSubscriptionResult></ConfirmSubscriptionResponse>"
        )
        return Response(body, media_type="text/xml")


class _Edge:
    """What stands in front of the portal's API: the per-IP limit, due writes, the token."""

    def __init__(self, app: ASGIApp, sim: BynderSimulator) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _route_path(scope).startswith("/api/"):
            await self.app(scope, receive, send)
            return
        self.sim.requests += 1
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        if not self.sim.rate_limit.allow(ip):
            self.sim.rate_limited += 1
            await _error(429, "Too Many Requests")(scope, receive, send)
            return
        self.sim.portal.apply_due()
        headers = dict(scope["headers"])
        raw = headers.get(b"authorization")
        if not self.sim.authorised(raw.decode("latin-1") if raw else None):
            await _error(401, "Unauthorized: invalid or missing access token")(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The request path below the simulator's mount point (the ASGI ``root_path``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _paging(params: Mapping[str, str]) -> tuple[int, int]:
    try:
        page = int(params.get("page", "1"))
        limit = int(params.get("limit", str(DEFAULT_LIMIT)))
    except ValueError as exc:
        raise BadRequest("page and limit must be integers") from exc
    if page < 1 or limit < 1:
        raise BadRequest("page and limit must be at least 1")
    return page, min(limit, MAX_LIMIT)


async def _form(request: Request) -> dict[str, str]:
    """The urlencoded form of a request; other bodies (JSON) read as empty, as Bynder does."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return {}
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def _sns_error(code: str) -> str:
    return (
        '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
        f"<Error><Type>Sender</Type><Code>{code}</Code></Error></ErrorResponse>"
    )


def simulator(world: World, *, faults: FaultKnobs | None = None, **options: Any) -> BynderSimulator:
    """Build the Bynder simulator app (``spec.simulator``); options go to ``BynderSimulator``."""
    return BynderSimulator(world, faults=faults, **options)


__all__ = ["BynderSimulator", "error_body", "simulator"]
