"""State the simulator's route handlers share, and the gates every Admin API call passes."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from syncbridge_cloudinary.simulator_errors import CloudinaryApiError
from syncbridge_cloudinary.simulator_gates import AdminBudget, check_basic_auth
from syncbridge_cloudinary.simulator_store import RESOURCE_TYPES, ResourceStore

if TYPE_CHECKING:
    from syncbridge_cloudinary.simulator import CloudinarySimulator, SimulatorOptions


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A JSON response carrying a fresh ``X-Request-Id`` plus ``headers``."""
    merged = {"X-Request-Id": uuid.uuid4().hex, **(headers or {})}
    return JSONResponse(payload, status_code=status, headers=merged)


def json_text_response(text: str, headers: dict[str, str] | None = None) -> Response:
    """A 200 answer whose body is JSON text already written, with a fresh ``X-Request-Id``."""
    merged = {"X-Request-Id": uuid.uuid4().hex, **(headers or {})}
    return Response(text.encode(), media_type="application/json", headers=merged)


def checked_resource_type(value: str) -> str:
    """``value`` if it names a resource type, else Cloudinary's 404."""
    if value not in RESOURCE_TYPES:
        raise CloudinaryApiError(404, f"Invalid resource type {value}")
    return value


@dataclass(frozen=True)
class SimContext:
    """What the route handlers of one simulator share: its knobs, resources and counters."""

    options: SimulatorOptions
    store: ResourceStore
    calls: Counter[str]
    budget: AdminBudget

    @classmethod
    def of(cls, sim: CloudinarySimulator) -> SimContext:
        """The context of ``sim``."""
        return cls(options=sim.options, store=sim.store, calls=sim.calls, budget=sim.budget)

    def check_cloud(self, cloud: str) -> None:
        """Refuse a call addressed to another product environment."""
        if cloud != self.options.cloud_name:
            raise CloudinaryApiError(401, f"Invalid cloud_name {cloud}")

    def admin(self, request: Request, cloud: str, what: str) -> dict[str, str]:
        """Auth, cloud check and budget for one Admin API call; returns its rate headers."""
        opts = self.options
        self.calls[f"admin:{what}"] += 1
        check_basic_auth(request.headers.get("authorization"), opts.api_key, opts.api_secret)
        self.check_cloud(cloud)
        headers = self.budget.take()
        request.state.rate_headers = headers
        return headers


__all__ = ["SimContext", "checked_resource_type", "json_response", "json_text_response"]
