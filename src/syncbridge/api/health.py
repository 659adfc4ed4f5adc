"""``/healthz`` (the process is up) and ``/readyz`` (the store answers)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from syncbridge.api.problems import problem

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="healthz")
async def healthz() -> dict[str, str]:
    """Liveness: answers while the process runs."""
    return {"status": "ok"}


@router.get("/readyz", operation_id="readyz", response_model=None)
async def readyz(request: Request) -> JSONResponse | dict[str, str]:
    """Readiness: the database answers a query."""
    try:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:  # any failure means "not ready"; the reason is logged, not leaked
        return problem(503, "Not ready", "The database is not reachable.")
    return {"status": "ready", "database": request.app.state.engine.dialect.name}
