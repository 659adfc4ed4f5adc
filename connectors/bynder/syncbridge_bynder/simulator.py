"""A Bynder portal simulator (API v4 + SNS webhooks) built from the sandbox ``World``.

Implemented, following reference/vendor-apis.md section 4, Bynder's API reference and the
official SDKs. Every route implements each parameter Bynder documents for it or refuses it
with 400 in Bynder's shape ``{"message": ..., "statuscode": N}``; parameters Bynder does not
document are refused too (a misspelt filter must not answer an unfiltered 200).

* ``Authorization: Bearer <permanent token>`` on every ``/api/`` call; a missing or wrong
  token answers 401 (the exact 401 text is UNVERIFIED).
* ``GET /api/v4/media/``: see ``sim_listing`` for every filter, order and variant.
* ``GET /api/v4/media/{id}/`` (404 unknown) in Bynder's field names and types: 0/1 flags,
  ISO ``Z`` dates to the second, ``property_<Name>`` option-name lists, ``propertyOptions``;
  ``versions=1`` adds ``mediaItems``, ``stats=1`` adds ``views``/``downloads``.
* ``POST /api/v4/media/{id}/`` (or ``/api/v4/media/`` with an ``id`` field), form-encoded:
  ``tags`` replaces the tag set, ``metaproperty.<id>=<optionId>[,...]`` replaces that
  metaproperty's options (empty clears), ``name``/``description``/``copyright``,
  ``brandId``, ``datePublished``, ``archive``/``limited``/``isPublic`` (public is one-way).
  Answers 202 ``{"message":"Accepted","statuscode":202}`` and applies the change
  ``write_delay_s`` later, bumping ``dateModified``. A JSON body, or keys Bynder does not
  document, are accepted with 202 and ignored, as Bynder does. ``archiveDate``,
  ``limitedDate`` and ``watermarkDate`` are refused (400). ``DELETE`` answers 204.
* ``GET /api/v4/media/{id}/download/`` (``type=original|additional``),
  ``.../download/{itemId}/`` and ``.../{version}/download/``: ``{"s3_file": URL}``.
* ``GET /api/v4/metaproperties/`` (object keyed by name; ``count``, ``type``, ``options``,
  ``ids``), ``GET .../{id}/`` (``count``, ``type``, ``options``), ``POST .../{id}/options/``
  with form field ``data=<JSON>`` (answer shape UNVERIFIED).
* ``GET /api/v4/tags/`` ``[{id, tag, mediaCount}]`` (``limit``, ``page``, ``orderBy``
  ``tag|mediaCount asc|desc``, ``keyword``, ``mincount``), ``GET /api/v4/brands/``,
  ``GET /api/v4/account/``, ``GET /api/v4/account/derivatives/``, and the collection routes
  of ``sim_collection_routes``.
* Routes of Bynder's API left out (uploads, usage, workflow, PIM, metaproperty editing)
  answer 501 in Bynder's shape; unknown routes 404 and wrong methods 405, also as JSON.
* 4,500 requests per 5 minutes per client IP, then 429 until the IP has been quiet for
  5 minutes (requests during the block extend it); no rate-limit headers. All configurable.
* SNS deliveries signed with a test key (``notification``, ``subscription_confirmation``),
  the signing certificate at its SNS-style path and a ``SubscribeURL`` endpoint.
* Mountable under a path prefix (ASGI ``root_path``); ``connection_settings(base_url)``
  gives a connection's settings for the public address and points the SNS URLs there.
* ``inclusive_date_filters`` chooses whether ``dateModified=T`` keeps media at exactly ``T``
  (Bynder documents "modified after" without saying), so clients can be tested both ways.

Left out: OAuth 2 flows, uploads, usage, workflow, derivatives' files, sub-brands,
categories, text/date metaproperties, cursor paging, and the v7 webhooks API.
"""

from __future__ import annotations

import hmac
from collections import Counter
from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from syncbridge.sandbox.faults import FaultKnobs, FaultMiddleware
from syncbridge.sandbox.world import World
from syncbridge_bynder.sim_catalog_routes import catalog_routes
from syncbridge_bynder.sim_collection_routes import collection_routes
from syncbridge_bynder.sim_http import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    accepted,
    error,
    error_body,
    form,
    paging,
)
from syncbridge_bynder.sim_listing import listing_page as listing_page_of
from syncbridge_bynder.sim_listing import parse_query
from syncbridge_bynder.sim_params import BadRequest, bynder_id, flag, only_known
from syncbridge_bynder.sim_sns import Delivery, SigningIdentity, SnsTopic
from syncbridge_bynder.sim_state import BynderPortal, IpRateLimit

_ALL = ["GET", "POST", "PUT", "DELETE", "PATCH"]
#: Routes of Bynder's API (and of its SDKs) that the simulator does not serve: 501.
_LEFT_OUT: list[tuple[str, list[str]]] = [
    ("/api/v4/metaproperties/", ["POST"]),
    ("/api/v4/metaproperties/{mp_id}/", ["POST", "DELETE"]),
    ("/api/v4/metaproperties/{mp_id}/options/{option_id}/", ["POST", "DELETE"]),
    ("/api/v4/media/save/{rest:path}", _ALL),
    ("/api/v4/media/{media_id}/save/{rest:path}", _ALL),
    ("/api/v4/upload/{rest:path}", _ALL),
    ("/api/upload/{rest:path}", _ALL),
    ("/api/media/usage/", _ALL),
    ("/api/media/options", _ALL),
    ("/api/workflow/{rest:path}", _ALL),
    ("/api/pim/{rest:path}", _ALL),
]


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
        inclusive_date_filters: bool = True,
    ) -> None:
        self.portal = BynderPortal(
            world, write_delay_s=write_delay_s, inclusive_date_filters=inclusive_date_filters
        )
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
            Route("/api/v4/media/{media_id}/", self._media_delete, methods=["DELETE"]),
            Route("/api/v4/media/{media_id}/download/", self._download, methods=["GET"]),
            Route("/api/v4/media/{media_id}/download/{item_id}/", self._download, methods=["GET"]),
            Route(
                "/api/v4/media/{media_id}/{version:int}/download/",
                self._download,
                methods=["GET"],
            ),
            Route("/api/v4/account/", self._account, methods=["GET"]),
            *catalog_routes(self.portal),
            *collection_routes(self.portal),
            *(Route(path, _left_out, methods=methods) for path, methods in _LEFT_OUT),
            Route(self.topic.cert_path, self._cert, methods=["GET"]),
            Route("/", self._sns_action, methods=["GET"]),
        ]
        handlers = {404: _http_error, 405: _http_error}
        return _Edge(Starlette(routes=routes, exception_handlers=handlers), self)

    def authorised(self, header: str | None) -> bool:
        expected = f"Bearer {self.token}".encode()
        return header is not None and hmac.compare_digest(header.encode(), expected)

    async def _media_list(self, request: Request) -> Response:
        params = request.query_params
        try:
            page, limit = paging(params)
            query = parse_query(params, self.portal)
            chunk, total, matched = listing_page_of(self.portal, query, page, limit)
        except BadRequest as exc:
            return error(400, str(exc))
        extras = query.include_items or query.include_version
        if matched is None and not extras:
            # The common read: each medium's JSON is encoded once per state, not per page.
            encoded = b",".join(self.portal.encoded(m["id"]) for m in chunk)
            return Response(b"[" + encoded + b"]", media_type="application/json")
        if extras:
            chunk = [
                self._with_extras(m, query.include_items, query.include_version) for m in chunk
            ]
        if matched is None:
            return JSONResponse(chunk)
        body: dict[str, Any] = {}
        if query.count:
            body["count"] = {"total": total, "type": Counter(m["type"] for m in matched)}
        if query.total:
            body["total"] = {"count": total}
        return JSONResponse({**body, "media": chunk})

    def _with_extras(self, media: dict[str, Any], items: bool, version: bool) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if items:
            extra["mediaItems"] = self.portal.media_items(media["id"])
        if version:
            extra["activeVersion"] = 1
        return {**media, **extra}

    async def _media_info(self, request: Request) -> Response:
        media_id = request.path_params["media_id"]
        params = request.query_params
        try:
            only_known(params, ("versions", "stats"), "media")
            versions, stats = flag(params, "versions"), flag(params, "stats")
        except BadRequest as exc:
            return error(400, str(exc))
        media = self.portal.media.get(media_id)
        if media is None:
            return error(404, "Media not found")
        body = self._with_extras(media, bool(versions), False)
        if stats:
            body.update(self.portal.stats[media_id])
        return JSONResponse(body)

    async def _media_modify(self, request: Request) -> Response:
        return await self._modify(request.path_params["media_id"], await form(request))

    async def _media_modify_by_field(self, request: Request) -> Response:
        fields = await form(request)
        if "id" not in fields:
            return error(400, "id is required")
        return await self._modify(fields["id"], fields)

    async def _modify(self, media_id: str, fields: Mapping[str, str]) -> Response:
        try:
            self.portal.accept_write(media_id, fields)
        except KeyError:
            return error(404, "Media not found")
        except BadRequest as exc:
            return error(400, str(exc))
        return accepted()

    async def _media_delete(self, request: Request) -> Response:
        try:
            self.portal.delete(request.path_params["media_id"])
        except KeyError:
            return error(404, "Media not found")
        return Response(status_code=204)

    async def _download(self, request: Request) -> Response:
        media = self.portal.media.get(request.path_params["media_id"])
        params = request.query_params
        try:
            only_known(params, ("type", "hash"), "download")
            if flag(params, "hash"):
                raise BadRequest("hash=1 (item ids given as hashes) is not supported")
            kind = params.get("type", "original")
            if kind not in ("original", "additional"):
                raise BadRequest("Invalid type")
        except BadRequest as exc:
            return error(400, str(exc))
        if media is None:
            return error(404, "Media not found")
        (item,) = self.portal.media_items(media["id"])
        wanted_item = request.path_params.get("item_id", item["id"])
        wanted_version = request.path_params.get("version", 1)
        if kind == "additional" or wanted_item != item["id"] or wanted_version != 1:
            return error(404, "Original file not available" if kind == "original" else None)
        url = f"https://acme-bynder-sandbox.s3.amazonaws.com/{media['idHash']}/{item['fileName']}"
        return JSONResponse({"s3_file": url})

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


async def _left_out(request: Request) -> Response:
    return error(501, f"{request.method} {request.url.path} is not served by this simulator")


async def _http_error(_request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 in Bynder's JSON shape (405 keeps its ``Allow`` header)."""
    if not isinstance(exc, HTTPException):
        return error(500)
    response = error(exc.status_code)
    response.headers.update(exc.headers or {})
    return response


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
            await error(429, "Too Many Requests")(scope, receive, send)
            return
        self.sim.portal.apply_due()
        headers = dict(scope["headers"])
        raw = headers.get(b"authorization")
        if not self.sim.authorised(raw.decode("latin-1") if raw else None):
            await error(401, "Unauthorized: invalid or missing access token")(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The request path below the simulator's mount point (the ASGI ``root_path``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _sns_error(code: str) -> str:
    return (
        '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
        f"<Error><Type>Sender</Type><Code>{code}</Code></Error></ErrorResponse>"
    )


def simulator(world: World, *, faults: FaultKnobs | None = None, **options: Any) -> BynderSimulator:
    """Build the Bynder simulator app (``spec.simulator``); options go to ``BynderSimulator``."""
    return BynderSimulator(world, faults=faults, **options)


__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "BynderSimulator", "error_body", "simulator"]
