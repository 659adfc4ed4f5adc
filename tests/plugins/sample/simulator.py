"""The Sample DAM simulator: a tiny vendor API over the sandbox world.

``GET /api/me``, ``GET /api/assets?page=&limit=&modified_since=`` (a bare array, sorted by
id; ``modified_since`` keeps items modified strictly after it), ``GET /api/assets/{id}``,
``PUT /api/assets/{id}/tags`` (replaces the tag list), bearer auth, and deliveries signed
as hex HMAC-SHA256 of ``"{timestamp}.{body}"``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from syncbridge.sandbox.faults import FaultKnobs, FaultMiddleware
from syncbridge.sandbox.world import World

API_TOKEN = "sample-sandbox-token"
WEBHOOK_SECRET = "sample-sandbox-webhook-secret"
MAX_LIMIT = 100


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The Sample DAM delivery signature."""
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class SampleSimulator:
    """An ASGI app holding the world's assets in memory; ``sandbox_info`` has its credentials."""

    def __init__(self, world: World, *, faults: FaultKnobs | None = None) -> None:
        self.assets: dict[str, dict[str, Any]] = {
            a.id: {
                "id": a.id,
                "name": a.name,
                "folder": a.folder,
                "tags": sorted(a.tags),
                "modified": a.modified_at.isoformat(),
            }
            for a in world.assets()
        }
        self._now = max(a.modified_at for a in world.assets()) if world.assets_count else None
        self.sandbox_info = {"api_token": API_TOKEN, "webhook_secret": WEBHOOK_SECRET}
        app = Starlette(
            routes=[
                Route("/api/me", self._me),
                Route("/api/assets", self._list),
                Route("/api/assets/{asset_id}", self._get),
                Route("/api/assets/{asset_id}/tags", self._put_tags, methods=["PUT"]),
            ]
        )
        self.faults = FaultMiddleware(app, faults or FaultKnobs(), self._error_body)
        self.tag_writes = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.faults(scope, receive, send)

    def connection_settings(self, base_url: str) -> dict[str, Any]:
        """The settings of a Sample connection reaching this simulator at ``base_url``."""
        return {"base_url": base_url, **self.sandbox_info}

    @staticmethod
    def _error_body(status: int) -> dict[str, object]:
        return {"error": {"status": status, "message": "simulated fault"}}

    def touch(self, asset_id: str) -> None:
        """Edit an asset as a person in the DAM would: a later modification time."""
        assert self._now is not None
        self._now += timedelta(minutes=1)
        asset = self.assets[asset_id]
        asset["name"] = asset["name"] + " (edited)"
        asset["modified"] = self._now.isoformat()

    def delivery(self, asset_id: str, action: str = "updated") -> tuple[dict[str, str], bytes]:
        """Headers and body of a signed webhook delivery about one asset."""
        body = json.dumps({"events": [{"asset_id": asset_id, "action": action}]}).encode()
        timestamp = str(int(time.time()))
        headers = {
            "X-Sample-Delivery": f"dlv-{asset_id}",
            "X-Sample-Timestamp": timestamp,
            "X-Sample-Signature": signature(WEBHOOK_SECRET, timestamp, body),
        }
        return headers, body

    @staticmethod
    def _authorised(request: Request) -> bool:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {API_TOKEN}".encode())

    @staticmethod
    def _refused() -> JSONResponse:
        return JSONResponse({"error": {"message": "invalid token"}}, status_code=401)

    async def _me(self, request: Request) -> JSONResponse:
        if not self._authorised(request):
            return self._refused()
        return JSONResponse({"account": "sample-sandbox", "assets": len(self.assets)})

    async def _list(self, request: Request) -> JSONResponse:
        if not self._authorised(request):
            return self._refused()
        try:
            page = int(request.query_params.get("page", "1"))
            limit = int(request.query_params.get("limit", "10"))
        except ValueError:
            return JSONResponse({"error": {"message": "page and limit are integers"}}, 400)
        if page < 1 or not 1 <= limit <= MAX_LIMIT:
            return JSONResponse({"error": {"message": "page or limit out of range"}}, 400)
        since = request.query_params.get("modified_since", "")
        rows = [self.assets[k] for k in sorted(self.assets)]
        # Strictly later: an item modified at the watermark was in the previous read.
        rows = [r for r in rows if r["modified"] > since]
        return JSONResponse(rows[(page - 1) * limit : page * limit])

    async def _get(self, request: Request) -> JSONResponse:
        if not self._authorised(request):
            return self._refused()
        asset = self.assets.get(request.path_params["asset_id"])
        if asset is None:
            return JSONResponse({"error": {"message": "not found"}}, 404)
        return JSONResponse(asset)

    async def _put_tags(self, request: Request) -> JSONResponse:
        if not self._authorised(request):
            return self._refused()
        asset = self.assets.get(request.path_params["asset_id"])
        if asset is None:
            return JSONResponse({"error": {"message": "not found"}}, 404)
        tags = (await request.json()).get("tags")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            return JSONResponse({"error": {"message": "tags is a list of strings"}}, 400)
        asset["tags"] = sorted(set(tags))
        self.tag_writes += 1
        return JSONResponse(asset)
