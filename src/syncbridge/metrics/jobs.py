"""Job handlers of the metrics package (entry point ``syncbridge.jobs``: ``metrics``)."""

from __future__ import annotations

from syncbridge.jobs import HandlerRegistry, JobContext, PermanentJobError
from syncbridge.logs import get_logger
from syncbridge.metrics.service import compute_metrics
from syncbridge.metrics.triggers import KIND, ComputePayload, facts_computed
from syncbridge.settings import get_settings

__all__ = ["compute_facts_job", "register"]

log = get_logger(__name__)


async def compute_facts_job(ctx: JobContext) -> None:
    """Recompute the facts the payload names, crediting deals by the configured attribution
    rule (``SYNCBRIDGE_METRICS_ATTRIBUTION``), then queue a scoring run unless one is still
    queued; idempotent, stops (lease lost) between batches."""
    try:
        payload = ComputePayload.model_validate(ctx.payload)
    except ValueError as exc:
        raise PermanentJobError(f"bad metrics payload: {exc}") from exc
    report = await compute_metrics(
        ctx.sessionmaker,
        asset_ids=payload.asset_ids,
        run_id=payload.run_id,
        attribution=get_settings().metrics_attribution,
        between_batches=ctx.check,
    )
    run, new = await ctx.fenced(facts_computed)
    log.info(
        "metrics.scoring_queued" if new else "metrics.scoring_already_queued",
        run_id=str(run.id),
        assets=report.assets,
    )


def register(registry: HandlerRegistry) -> None:
    """Register the metrics job handlers."""
    registry.register(KIND, compute_facts_job)
