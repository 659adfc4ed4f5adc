"""What follows a sync run once its rows have landed: linking, then classification.

Links come first because classification rules may read the records linked to an asset (a
campaign's objective and channel flow to the assets the campaign used). Both steps work on
what the run changed and are idempotent, so a job that runs this again after a crash
changes nothing more.
"""

from __future__ import annotations

import uuid

from syncbridge.sync.service import Sessionmaker


async def settle_run(sessionmaker: Sessionmaker, run_id: uuid.UUID) -> None:
    """Link and classify what run ``run_id`` changed (wired as the linking and classification
    packages land)."""
    del sessionmaker, run_id


__all__ = ["settle_run"]
