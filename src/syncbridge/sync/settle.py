"""What follows a sync run once its rows have landed: linking, then classification.

Links come first because classification rules may read the records linked to an asset (a
campaign's objective and channel flow to the assets the campaign used). Both steps work on
what the run changed and are idempotent, so a job that runs this again after a crash
changes nothing more.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import select, union
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.classification.service import classify_run, reclassify
from syncbridge.linking.run import LinkReport, link_run, relink
from syncbridge.logs import get_logger
from syncbridge.metrics import triggers as metrics_triggers
from syncbridge.models import Classification, Link
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.sync.service import Sessionmaker

log = get_logger(__name__)


async def settle_run(sessionmaker: Sessionmaker, run_id: uuid.UUID) -> None:
    """Link, then classify, what run ``run_id`` changed (each in its own batched units of
    work; no vendor is called)."""
    links = await link_run(sessionmaker, run_id)
    classified = await classify_run(sessionmaker, run_id)
    log.info(
        "sync.run_settled",
        run_id=str(run_id),
        records_linked=links.records,
        assets_classified=classified.assets,
        classifications_added=classified.added,
        classifications_removed=classified.removed,
    )


async def _assets_classified_through_links(session: AsyncSession) -> list[uuid.UUID]:
    """Assets whose classifications may depend on their links: those linked to a record now,
    and those classified through a record (whose link may just have gone)."""
    linked = select(Link.asset_id)
    through_records = select(Classification.asset_id).where(Classification.record_id.is_not(None))
    return list(await session.scalars(union(linked, through_records)))


async def relink_and_reclassify(
    sessionmaker: Sessionmaker,
    *,
    job_id: uuid.UUID | None = None,
    between_batches: Callable[[], None] | None = None,
) -> LinkReport:
    """Re-link the whole store with the link rules as they are now (after a rule changed),
    queue the recomputation of metric facts, then, when links changed, re-classify the assets
    whose classifications may come from linked records, so a campaign's concepts follow the
    links. Idempotent."""
    report = await relink(sessionmaker)
    # Facts come from linked records: recompute them (queued even when this attempt changed
    # nothing, since an attempt that crashed after re-linking may have changed everything).
    await in_unit_of_work(sessionmaker, metrics_triggers.links_rewritten)
    if report.diff.changed:
        assets = await in_unit_of_work(sessionmaker, _assets_classified_through_links, write=False)
        classified = await reclassify(
            sessionmaker, asset_ids=assets, job_id=job_id, between_batches=between_batches
        )
        log.info(
            "linking.relink_reclassified",
            assets=classified.assets,
            added=classified.added,
            removed=classified.removed,
        )
    return report


__all__ = ["relink_and_reclassify", "settle_run"]
