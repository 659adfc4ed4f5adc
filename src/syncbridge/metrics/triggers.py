"""Queueing the computation of metric facts in the transaction of the change that causes it.

A sync run that finishes queues :data:`KIND` for the assets its changes touch (see
``syncbridge.sync.runs.conclude``); the dedupe key names the run, so concluding it again
queues nothing more. The job waits :data:`DELAY_S` before it may run: facts are daily, and
sync jobs queued meanwhile (the next runs of a reconcile) go first, since the queue serves
the oldest ready job first. Jobs of the kind share a concurrency key: they never run at once,
so two computations never rewrite one asset's facts together.

A computation that ends queues a scoring run (:func:`facts_computed`), so every sync (and
re-link) ends with the desired performance tags scored again.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.jobs.service import enqueue
from syncbridge.models import Job, Run, utcnow
from syncbridge.scoring.runs import queue_score_run_once

__all__ = [
    "DELAY_S",
    "KIND",
    "SCORING_ACTOR",
    "SCORING_DELAY_S",
    "ComputePayload",
    "facts_computed",
    "links_rewritten",
    "run_finished",
]

#: The job kind of a metrics computation.
KIND = "metrics.compute"
#: Seconds a run's computation waits before it may run.
DELAY_S = 30.0
#: Seconds the scoring run queued after a computation waits: the computations of a burst of
#: runs, queued meanwhile, go first (oldest ready first) and all find it still queued.
SCORING_DELAY_S = 30.0
#: Who the scoring runs queued after a computation are requested by.
SCORING_ACTOR = "system:metrics.compute"


class ComputePayload(BaseModel):
    """What a computation reads: the assets a run changed (``run_id``), the assets named, or
    (neither) every asset that is linked or has facts."""

    run_id: uuid.UUID | None = None
    asset_ids: list[uuid.UUID] | None = None


async def run_finished(session: AsyncSession, run_id: uuid.UUID) -> Job:
    """Queue the computation of the facts run ``run_id``'s changes touch (flushes)."""
    return await enqueue(
        session,
        KIND,
        ComputePayload(run_id=run_id).model_dump(mode="json", exclude_none=True),
        dedupe_key=f"{KIND}:run:{run_id}",
        run_after=utcnow() + timedelta(seconds=DELAY_S),
        concurrency_key=KIND,
    )


async def links_rewritten(session: AsyncSession) -> Job:
    """Queue the computation of every asset's facts after a re-link (a link rule changed:
    any asset may have gained or lost the records its facts come from). Flushes. No dedupe
    key: one queued while another runs must still run after it (the concurrency key keeps
    them apart), and re-links are rare."""
    return await enqueue(
        session,
        KIND,
        ComputePayload().model_dump(mode="json", exclude_none=True),
        run_after=utcnow() + timedelta(seconds=DELAY_S),
        concurrency_key=KIND,
    )


async def facts_computed(session: AsyncSession) -> tuple[Run, bool]:
    """Queue the scoring of every asset after a computation, unless a scoring run is still
    queued (it has read nothing yet, so it scores these facts too): a burst of syncs makes
    one scoring run. Returns the run and whether it is new. Flushes. Computations never run
    at once (their concurrency key), so two never both find none queued."""
    return await queue_score_run_once(
        session,
        requested_by=SCORING_ACTOR,
        run_after=utcnow() + timedelta(seconds=SCORING_DELAY_S),
    )
