"""A worker process on virtual time: ``python -m tests.virtual_worker CLOCK_FILE``.

It runs what ``syncbridge worker`` runs (:func:`syncbridge.cli.worker.serve_worker`: the job
worker, its heartbeat and the APScheduler ticker, settings from ``SYNCBRIDGE_*`` variables,
logging configured as the CLI does) with one thing swapped: the clock, a
:class:`~tests.schedule_support.SharedClock` read from ``CLOCK_FILE``, which the test moves.

APScheduler 3 has no clock to inject: it reads ``datetime.now`` in its scheduler (when a job
is due, when to wake next) and sleeps on the event loop until the next fire time. Here its
``datetime.now`` reads the shared clock, and its longest sleep (``TIMEOUT_MAX``, otherwise
days) is cut to a twentieth of a second, so a scheduler waiting for 02:00 notices when
virtual time jumps there, as one on wall time notices the night passing. The triggers,
coalescing, ``max_instances`` and the executor that calls :meth:`Ticker.tick` are APScheduler's
own, unchanged. Its executor's log lines (``Running job "reconcile ..." (scheduled at ...)``)
are turned on so that the test sees each process fire each slot.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import datetime, tzinfo
from pathlib import Path

import apscheduler.executors.base
import apscheduler.schedulers.base

from syncbridge.cli.worker import serve_worker
from syncbridge.logs import configure_logging
from syncbridge.settings import get_settings
from tests.schedule_support import SharedClock

#: How long APScheduler sleeps at most before it looks at the (virtual) time again (wall s).
SCHEDULER_LOOKS_EVERY_S = 0.05


def follow_clock(clock: SharedClock) -> None:
    """Make APScheduler read ``clock`` wherever it reads the time."""

    class ClockedDatetime(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> ClockedDatetime:
            at = clock.now().astimezone(tz)
            return cls.fromtimestamp(at.timestamp(), at.tzinfo)

    apscheduler.schedulers.base.datetime = ClockedDatetime
    apscheduler.executors.base.datetime = ClockedDatetime
    apscheduler.schedulers.base.TIMEOUT_MAX = SCHEDULER_LOOKS_EVERY_S


def main(clock_file: str) -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    logging.getLogger("apscheduler.executors").setLevel(logging.INFO)
    clock = SharedClock(Path(clock_file))
    follow_clock(clock)
    asyncio.run(serve_worker(settings, clock=clock))


if __name__ == "__main__":
    main(sys.argv[1])
