"""``/metrics``: Prometheus exposition of syncbridge's own metrics (no secrets in labels)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from syncbridge.connector import metrics

router = APIRouter(tags=["health"])


@router.get("/metrics", operation_id="metrics", response_class=Response)
async def prometheus_metrics() -> Response:
    """Vendor calls, 429s and call latency by connector, in the Prometheus text format."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
