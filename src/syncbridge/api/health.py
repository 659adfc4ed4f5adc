"""``/healthz`` (the process is up) and ``/readyz`` (ready to serve: the store answers, its
migrations are current, and a worker is alive)."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from syncbridge.api.problems import STATUS_MEANINGS, problem
from syncbridge.db import alembic_config
from syncbridge.logs import get_logger
from syncbridge.models import WorkerHeartbeat
from syncbridge.models.base import utcnow
from syncbridge.settings import Settings

log = get_logger(__name__)
router = APIRouter(tags=["health"])

#: The readiness checks, in the order they run (a failing one stops the rest).
CHECKS = ("store", "migrations", "worker")


@lru_cache(maxsize=1)
def migration_heads() -> frozenset[str]:
    """The head revisions of the bundled migration scripts (read from files, once)."""
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


@router.get("/healthz", operation_id="healthz")
async def healthz() -> dict[str, str]:
    """Liveness: answers while the process runs."""
    return {"status": "ok"}


async def _migrations(conn: AsyncConnection, heads: frozenset[str]) -> str | None:
    try:
        rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
    except Exception:  # no version table: never migrated
        return "The store has no migrations applied: run `syncbridge migrate`."
    current = frozenset(row[0] for row in rows)
    if current != heads:
        return (
            f"The store is at migration {', '.join(sorted(current)) or 'none'}, the code at "
            f"{', '.join(sorted(heads))}: run `syncbridge migrate`."
        )
    return None


async def _worker(conn: AsyncConnection, settings: Settings) -> str | None:
    seen = await conn.scalar(select(func.max(WorkerHeartbeat.seen_at)))
    if seen is None:
        return "No worker has recorded a heartbeat: start `syncbridge worker`."
    max_age = timedelta(seconds=settings.heartbeat_max_age_s)
    if utcnow() - seen > max_age:
        return (
            f"No worker heartbeat for more than {max_age} (the last at {seen.isoformat()}): "
            "start `syncbridge worker`."
        )
    return None


async def _failure(request: Request) -> tuple[str, str] | None:
    """The first failing check and why, or None when every check passes."""
    state = request.app.state
    try:
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            reason = await _migrations(conn, state.migration_heads)
            if reason is not None:
                return "migrations", reason
            reason = await _worker(conn, state.settings)
            if reason is not None:
                return "worker", reason
    except Exception as exc:  # the store is away; the reason is logged, not leaked
        log.warning("readyz.store_unreachable", error=type(exc).__name__)
        return "store", "The database is not reachable."
    return None


@router.get(
    "/readyz",
    operation_id="readyz",
    response_model=None,
    responses={503: {"description": STATUS_MEANINGS[503]}},
)
async def readyz(request: Request) -> JSONResponse | dict[str, object]:
    """Readiness: the store answers, its migrations are the code's, and a worker beat
    recently. 503 (problem+json) names the first failing check in `check`."""
    failure = await _failure(request)
    if failure is not None:
        check, reason = failure
        passed = CHECKS[: CHECKS.index(check)]
        checks = {**dict.fromkeys(passed, "ok"), check: "failed"}
        return problem(503, "Not ready", reason, check=check, checks=checks)
    return {
        "status": "ready",
        "database": request.app.state.engine.dialect.name,
        "checks": dict.fromkeys(CHECKS, "ok"),
    }
