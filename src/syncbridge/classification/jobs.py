"""The re-classification job: registered under the ``syncbridge.jobs`` entry point."""

from __future__ import annotations

from syncbridge.classification.service import reclassify
from syncbridge.classification.triggers import KIND, ReclassifyPayload
from syncbridge.jobs.context import JobContext, PermanentJobError
from syncbridge.jobs.registry import HandlerRegistry
from syncbridge.mapping.evaluate import Scope

__all__ = ["handle_reclassify", "register"]


async def handle_reclassify(ctx: JobContext) -> None:
    """Re-classify what the payload names; stops (lease lost) between batches."""
    try:
        payload = ReclassifyPayload.model_validate(ctx.payload)
    except ValueError as exc:
        raise PermanentJobError(f"bad re-classification payload: {exc}") from exc
    await reclassify(
        ctx.sessionmaker,
        rule_ids=payload.rule_ids,
        concept_ids=payload.concept_ids,
        scopes=[Scope(s.connector_key, s.stream, s.connection_id) for s in payload.scopes],
        actor=payload.actor,
        job_id=ctx.job_id,
        between_batches=ctx.check,
    )


def register(registry: HandlerRegistry) -> None:
    """The job handlers of classification."""
    registry.register(KIND, handle_reclassify)
