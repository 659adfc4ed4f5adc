"""Syncs: vendor streams read page by page into the store of assets and records.

``run_sync`` (or ``create_run`` then ``execute_run``, which a job handler calls with a run id)
reads each stream of a run with ``sync_stream``; ``encoding`` holds the canonical JSON and
content hashes, ``repository`` the set-based writes.
"""

from syncbridge.sync.runs import create_run, execute_run, run_sync
from syncbridge.sync.service import StreamBusy, sync_stream

__all__ = ["StreamBusy", "create_run", "execute_run", "run_sync", "sync_stream"]
