"""``/metrics``: Prometheus exposition of syncbridge's own metrics (no secrets in labels).

Counters and histograms are this process's (vendor calls and 429s by connector, webhook
deliveries received, accepted and rejected, job outcomes and latency). The depth of the
inbox and of the job queue is the store's, read at scrape time so that every API replica
reports the same, whichever process did the work.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from sqlalchemy import func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.connector import metrics
from syncbridge.inbox import repository as inbox
from syncbridge.logs import get_logger
from syncbridge.models import Job
from syncbridge.models.base import utcnow
from syncbridge.store.unit_of_work import in_unit_of_work

log = get_logger(__name__)
router = APIRouter(tags=["health"])

inbox_pending = Gauge(
    "syncbridge_inbox_pending",
    "Inbox events waiting to be processed, by connector.",
    ["connector"],
    registry=metrics.registry,
)
inbox_oldest_age = Gauge(
    "syncbridge_inbox_oldest_pending_age_seconds",
    "Age of the oldest pending inbox event (0 when none).",
    registry=metrics.registry,
)
inbox_dead = Gauge(
    "syncbridge_inbox_dead", "Inbox events dead (waiting for a replay).", registry=metrics.registry
)
jobs_by_status = Gauge(
    "syncbridge_jobs",
    "Jobs in the queue by kind and status (queued, running, dead).",
    ["kind", "status"],
    registry=metrics.registry,
)
jobs_oldest_ready_age = Gauge(
    "syncbridge_jobs_oldest_ready_age_seconds",
    "How long the oldest ready queued job has been waiting past its run_after (0 when none).",
    registry=metrics.registry,
)
store_readable = Gauge(
    "syncbridge_store_readable",
    "1 when the last scrape could read the queue and inbox depth from the store, else 0.",
    registry=metrics.registry,
)


async def _depth(session: AsyncSession) -> tuple[inbox.Depth, list[Any], datetime | None]:
    depth = await inbox.depth(session)
    rows = await session.execute(
        select(Job.kind, Job.status, func.count())
        .where(Job.status.in_(("queued", "running", "dead")))
        .group_by(Job.kind, Job.status)
    )
    now = utcnow()
    oldest = await session.scalar(
        select(type_coerce(func.min(Job.run_after), Job.run_after.type)).where(
            Job.status == "queued", Job.run_after <= now
        )
    )
    return depth, list(rows.all()), oldest if isinstance(oldest, datetime) else None


async def _refresh(request: Request) -> None:
    """Set the store-read gauges (a store that cannot be read leaves them and says so)."""
    try:
        depth, jobs, oldest_job = await in_unit_of_work(
            request.app.state.sessionmaker, _depth, write=False
        )
    except Exception as exc:  # the scrape still answers with this process's own metrics
        log.warning("metrics.store_unreadable", error_type=type(exc).__name__)
        store_readable.set(0)
        return
    store_readable.set(1)
    now = utcnow()
    inbox_pending.clear()
    for connector, count in depth.pending.items():
        inbox_pending.labels(connector).set(count)
    inbox_oldest_age.set((now - depth.oldest).total_seconds() if depth.oldest else 0.0)
    inbox_dead.set(depth.dead)
    jobs_by_status.clear()
    for kind, status, count in jobs:
        jobs_by_status.labels(kind, status).set(count)
    jobs_oldest_ready_age.set(max(0.0, (now - oldest_job).total_seconds()) if oldest_job else 0.0)


@router.get("/metrics", operation_id="metrics", response_class=Response)
async def prometheus_metrics(request: Request) -> Response:
    """Vendor calls and 429s by connector; webhook deliveries received, accepted and refused
    by connector and reason; inbox and queue depth and oldest age; job outcomes and latency;
    in the Prometheus text format."""
    await _refresh(request)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
