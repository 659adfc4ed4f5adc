"""Job handlers of the scoring package (entry point ``syncbridge.jobs``: ``scoring``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from syncbridge.errors import NotFound
from syncbridge.jobs import HandlerRegistry, JobContext, PermanentJobError
from syncbridge.jobs.context import Handler, LeaseLost
from syncbridge.logs import get_logger
from syncbridge.runs.repository import end_run_of_dead_job
from syncbridge.scoring.runs import SCORE_JOB, execute_score_run, fail_score_run

__all__ = ["register", "score_run_handler", "score_run_job"]

log = get_logger(__name__)


def score_run_handler(progress: Callable[[uuid.UUID, int], None] | None = None) -> Handler:
    """The ``score.run`` handler; ``progress`` (a CLI's progress bar) is told each rule's id
    and the assets of each batch written."""

    async def score_run(ctx: JobContext) -> None:
        try:
            run_id = uuid.UUID(str(ctx.payload.get("run_id")))
        except ValueError:
            raise PermanentJobError("payload field 'run_id' is not a uuid") from None
        try:
            results = await execute_score_run(
                ctx.sessionmaker, run_id, between_batches=ctx.check, progress=progress
            )
        except LeaseLost:
            raise
        except NotFound as exc:
            raise PermanentJobError(str(exc)) from exc
        except Exception as exc:
            if isinstance(exc, PermanentJobError) or ctx.attempt >= ctx.max_attempts:
                await fail_score_run(ctx.sessionmaker, run_id, f"{type(exc).__name__}: {exc}")
            raise
        log.info("scoring.run_done", run_id=str(run_id), rules=len(results))

    return score_run


#: Score every enabled tag rule for the payload's run and finish it; idempotent (a retried
#: attempt rewrites nothing that did not change). The last failed attempt ends the run
#: ``failed``.
score_run_job = score_run_handler()


def register(registry: HandlerRegistry) -> None:
    """Register the scoring job handlers."""
    registry.register(SCORE_JOB, score_run_job, on_dead=end_run_of_dead_job)
