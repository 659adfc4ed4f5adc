"""What follows a sync run once its rows have landed: linking, then classification.

Links come first because classification rules may read the records linked to an asset (a
campaign's objective and channel flow to the assets the campaign used). Both steps work on
what the run changed and are idempotent, so a job that runs this again after a crash
changes nothing more.
"""

from __future__ import annotations

import uuid

from syncbridge.classification.service import classify_run
from syncbridge.linking.run import link_run
from syncbridge.logs import get_logger
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


__all__ = ["settle_run"]
