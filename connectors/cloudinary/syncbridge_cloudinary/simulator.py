"""A Cloudinary simulator: the Admin and Upload API parts syncbridge uses, served from the World.

Implements (paths under ``/v1_1/{cloud_name}``):

* Admin API, HTTP Basic ``api_key:api_secret`` (401 ``{"error": {"message": ...}}`` otherwise),
  the resources family (:mod:`simulator_resource_routes`): ``GET /resources`` (resource
  types), ``/resources/{rt}[/{type}]`` (``max_results`` default 10, at most 500;
  ``next_cursor`` absent on the last page; ``direction`` default desc by creation;
  ``start_at``; ``prefix``, which needs a delivery type, sorted by public id; or
  ``public_ids[]``, up to 100, answering only those that exist), ``/resources/{rt}/tags/{tag}``,
  ``/resources/{rt}/context?key=[&value=]``, ``/resources/by_asset_folder``,
  ``/resources/by_asset_ids`` (up to 100), ``/resources/{asset_id}``,
  ``/resources/{rt}/{type}/{public_id}`` (404 ``Resource not found - ...``) and
  ``GET /tags/{rt}`` (tag names, paged); the include flags ``tags``, ``context`` and
  ``metadata`` (fields omitted unless asked; ``context`` and ``metadata`` also when empty) and
  ``fields``. Every listing is one page of a sorted index kept true on every edit
  (:mod:`simulator_store`), so a page costs about the page. ``GET /ping``, ``GET /usage``,
  ``GET /metadata_fields`` (seeded with a ``performance_tier`` enum). A parameter a route
  does not take, or a value outside its domain, is refused with 400 (:mod:`simulator_params`);
  paths not served answer 404 and methods not taken 405, in the same error shape.
  Every Admin answer carries ``X-FeatureRateLimit-Limit/-Remaining/-Reset`` (Reset an HTTP
  date) and ``X-Request-Id``; a spent budget (``admin_rate_limit`` per
  ``rate_limit_window_s``, 500/h by default like the Free plan) is answered with 420
  (``rate_limit_status`` makes it 429), without ``Retry-After``.
* Upload API, signed (sorted params + secret, hex SHA-1 or SHA-256; signature versions 1 and
  2; bad signature 401, unknown key 401, timestamp over an hour old 400 "Stale request"):
  ``POST /{rt}/tags`` (add, remove, replace, remove_all, set_exclusive; up to 1000
  ``public_ids[]``), ``POST /{rt}/context`` (add, remove_all; ``k=v|k2=v2`` with backslash
  escapes) and ``POST /{rt}/metadata`` (validated against the field definitions). Bodies may
  be urlencoded or multipart (the SDK sends multipart). Not counted against the Admin budget.
  Fields the SDK does not send to a call are refused with 400 (:mod:`simulator_upload_routes`).
* Delivery URLs: ``url``/``secure_url`` point at res.cloudinary.com until
  :meth:`CloudinarySimulator.connection_settings` tells the simulator its public address;
  then they point under it and ``GET {cloud}/{rt}/upload/v{version}/{public_id}`` serves a
  placeholder (an SVG for images). Mountable under a path prefix (ASGI ``root_path``).
* Notifications: :meth:`CloudinarySimulator.notification` builds a signed delivery
  (``X-Cld-Timestamp``, ``X-Cld-Signature`` = hex SHA-1/SHA-256 of body + timestamp +
  secret) for ``upload``, ``resource_tags_changed``, ``resource_context_changed``,
  ``resource_metadata_changed`` and ``delete``. The simulator does not POST them anywhere.

Leaves out (unserved paths answer 404; the parameters that would ask for them 400): uploads of
files, renames, deletes over the API, derived assets and transformations, the Search API,
moderation queues (``/resources/{rt}/moderations/...``: 400) and the ``moderations`` flag,
analyses in resource details (``colors``, ``faces``...), folder management, completion
notifications (``notification_url``), OAuth bearer tokens, EdDSA ``X-Cld-Signature_v2``, and the
exact per-resource fields of the ``resource_*_changed`` payloads (UNVERIFIED upstream: here a
``resources`` list with ``asset_id``, ``public_id``, ``resource_type``, ``type`` and the
change). Resource ``type`` is always ``upload``.
"""

from __future__ import annotations

import json
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from syncbridge.sandbox.faults import FaultKnobs, FaultMiddleware
from syncbridge.sandbox.world import World
from syncbridge_cloudinary.signatures import Algorithm, notification_signature
from syncbridge_cloudinary.simulator_errors import CloudinaryApiError
from syncbridge_cloudinary.simulator_gates import AdminBudget
from syncbridge_cloudinary.simulator_metadata import PERFORMANCE_TIER_FIELD
from syncbridge_cloudinary.simulator_render import Shape, iso_z
from syncbridge_cloudinary.simulator_routes import build_api, error_body
from syncbridge_cloudinary.simulator_store import ResourceStore, SimResource

NotificationType = Literal[
    "upload",
    "resource_tags_changed",
    "resource_context_changed",
    "resource_metadata_changed",
    "delete",
]


@dataclass
class SimulatorOptions:
    """Vendor knobs of the simulator (``simulator(world, **options)``)."""

    cloud_name: str = "syncbridge-sandbox"
    api_key: str = "614335564976464"
    api_secret: str = "sandbox-cloudinary-api-secret"
    plan: str = "Free"
    admin_rate_limit: int = 500
    rate_limit_window_s: float = 3600.0
    rate_limit_status: int = 420
    #: Used for Upload API signatures and notification signatures alike.
    signature_algorithm: Algorithm = "sha1"
    max_request_age_s: float = 3600.0
    #: Where the sandbox serves the simulator (what ``upload_prefix`` should point at).
    public_url: str = "http://127.0.0.1:9001"
    clock: Callable[[], float] = field(default=time.time)


class CloudinarySimulator:
    """The ASGI app of one simulated product environment, with its state and helpers."""

    def __init__(
        self, world: World, options: SimulatorOptions, faults: FaultKnobs | None = None
    ) -> None:
        self.options = options
        self.store = ResourceStore.from_world(world, options.cloud_name)
        self.budget = AdminBudget(
            options.admin_rate_limit, options.rate_limit_window_s, clock=options.clock
        )
        #: Calls seen, keyed ``admin:<what>`` / ``upload:<what>`` (faults injected before).
        self.calls: Counter[str] = Counter()
        self.api = build_api(self)
        self.api.add_route(
            "/{cloud}/{resource_type}/{type_}/{version}/{public_id:path}", self._deliver
        )
        self.faults: FaultMiddleware | None = None
        if faults is not None and faults.active:
            self.faults = FaultMiddleware(self.api, faults, error_body=error_body)
        self.sandbox_info: dict[str, str] = {
            "cloud_name": options.cloud_name,
            "api_key": options.api_key,
            "api_secret": options.api_secret,
            "upload_prefix": options.public_url,
            "base_url": options.public_url,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.faults or self.api
        await app(scope, receive, send)

    # -- inspection helpers for tests and the sandbox ------------------------------------

    def connection_settings(self, base_url: str) -> dict[str, Any]:
        """The settings of a syncbridge connection to this simulator served at ``base_url``.

        ``base_url`` also becomes the simulator's public address: delivery URLs
        (``url``/``secure_url``) and ``sandbox_info`` point under it from now on.
        """
        public = base_url.rstrip("/")
        opts = self.options
        opts.public_url = public
        self.store.delivery_base = public
        self.sandbox_info |= {"upload_prefix": public, "base_url": public}
        per_hour = opts.admin_rate_limit * 3600.0 / opts.rate_limit_window_s
        return {
            "base_url": public,
            "cloud_name": opts.cloud_name,
            "api_key": opts.api_key,
            "api_secret": opts.api_secret,
            "signature_algorithm": opts.signature_algorithm,
            "notification_signature_algorithm": opts.signature_algorithm,
            "owned_metadata_field": PERFORMANCE_TIER_FIELD.external_id,
            "admin_rate_limit_per_hour": max(1, round(per_hour)),
        }

    def resource(self, public_id: str, resource_type: str = "image") -> SimResource:
        """The live state of one resource (KeyError when unknown)."""
        found = self.store.get(resource_type, "upload", public_id)
        if found is None:
            raise KeyError(public_id)
        return found

    def set_tags(self, asset_id: str, tags: Iterable[str]) -> None:
        """Change an asset's tags as a person in the console would."""
        self.store.set_tags(self.store.by_asset_id[asset_id], tags)

    async def _deliver(self, request: Request) -> Response:
        """A delivery URL: a placeholder for the asset (the simulator holds no files).

        Of query parameters only the SDKs' analytics marker ``_a`` is taken (the CDN ignores
        it); transformations and any other parameter are refused with 400.
        """
        unknown = sorted(set(request.query_params) - {"_a"})
        if unknown:
            raise CloudinaryApiError(400, f"Unknown parameter - {unknown[0]}")
        params = request.path_params
        public_id: str = params["public_id"]
        found = None
        if params["cloud"] == self.options.cloud_name:
            found = self.store.get(params["resource_type"], params["type_"], public_id)
            if found is None and "." in public_id:
                found = self.store.get(
                    params["resource_type"], params["type_"], public_id.rsplit(".", 1)[0]
                )
        if found is None or params["version"] != f"v{found.version}":
            raise CloudinaryApiError(404, "Resource not found")
        if found.resource_type == "image":
            return Response(_placeholder_svg(found), media_type="image/svg+xml")
        return Response(found.asset_id.encode(), media_type="application/octet-stream")

    def notification(
        self,
        notification_type: NotificationType,
        public_id: str,
        *,
        resource_type: str = "image",
        timestamp: int | None = None,
        change: Mapping[str, Any] | None = None,
        resource: SimResource | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """A signed notification about one resource: ``(headers, raw_body)``.

        ``resource`` lets a test describe an asset that is no longer in the store (a delete).
        """
        target = resource or self.resource(public_id, resource_type)
        sent_at = int(self.options.clock()) if timestamp is None else timestamp
        body = self._notification_body(notification_type, target, sent_at, change or {})
        raw = json.dumps(body, separators=(",", ":")).encode()
        signature = notification_signature(
            raw, str(sent_at), self.options.api_secret, self.options.signature_algorithm
        )
        headers = {
            "Content-Type": "application/json",
            "X-Cld-Timestamp": str(sent_at),
            "X-Cld-Signature": signature,
        }
        return headers, raw

    def _notification_body(
        self,
        notification_type: str,
        target: SimResource,
        sent_at: int,
        change: Mapping[str, Any],
    ) -> dict[str, Any]:
        triggered_at = iso_z(datetime.fromtimestamp(sent_at, UTC))
        common = {
            "notification_context": {
                "triggered_at": triggered_at,
                "triggered_by": {"source": "ui", "id": "sandbox-user"},
            },
            "signature_key": self.options.api_key,
            "request_id": uuid.uuid4().hex,
        }
        if notification_type == "upload":
            rendered = self.store.render(target, Shape(tags=True, context=True, metadata=True))
            return {"notification_type": "upload", "timestamp": triggered_at, **rendered, **common}
        entry: dict[str, Any] = {
            "asset_id": target.asset_id,
            "public_id": target.public_id,
            "resource_type": target.resource_type,
            "type": target.type,
        }
        if notification_type == "delete":
            entry |= {"version": target.version, "asset_folder": target.asset_folder}
        entry |= dict(change)
        return {"notification_type": notification_type, "resources": [entry], **common}


def _placeholder_svg(resource: SimResource) -> bytes:
    width, height = resource.width or 640, resource.height or 480
    root = ET.Element(
        "svg",
        xmlns="http://www.w3.org/2000/svg",
        width=str(width),
        height=str(height),
        viewBox=f"0 0 {width} {height}",
    )
    ET.SubElement(root, "rect", width="100%", height="100%", fill="#d8dee9")
    label = ET.SubElement(root, "text", x="50%", y="50%", attrib={"text-anchor": "middle"})
    label.text = resource.display_name
    return ET.tostring(root)


def simulator(
    world: World, *, faults: FaultKnobs | None = None, **vendor_options: Any
) -> CloudinarySimulator:
    """Build the Cloudinary simulator over ``world`` (see :class:`SimulatorOptions`)."""
    return CloudinarySimulator(world, SimulatorOptions(**vendor_options), faults)


__all__ = ["CloudinarySimulator", "NotificationType", "SimulatorOptions", "simulator"]
