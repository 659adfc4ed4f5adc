"""A process that executes (or resumes) one sync run against an in-process Bynder simulator.

``python -m tests.sync_resume_child <database url> <run id> <assets> <latency s>``; the
connection's secrets key comes in ``SYNCBRIDGE_SYNC_TEST_KEY``. The R11 test kills it with
SIGKILL at random pages and starts it again.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

from syncbridge.connections.secrets import SecretBox
from syncbridge.connections.service import ConnectionContext
from syncbridge.connector.http import create_http_client
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.db import create_engine, create_sessionmaker
from syncbridge.sandbox.faults import FaultKnobs
from syncbridge.sync import execute_run
from tests.sync_support import HostRouter, bynder_portal

KEY_ENV = "SYNCBRIDGE_SYNC_TEST_KEY"


async def main(url: str, run_id: uuid.UUID, assets: int, latency_s: float) -> int:
    sim, host = bynder_portal(assets=assets, faults=FaultKnobs(latency_s=latency_s))
    ctx = ConnectionContext(
        registry=ConnectorRegistry.from_entry_points(),
        box=SecretBox([os.environ[KEY_ENV].encode()]),
        allow_local=True,
    )
    engine = create_engine(url)
    try:
        async with create_http_client(transport=HostRouter({host: sim})) as http:
            run = await execute_run(create_sessionmaker(engine), ctx, http, run_id)
    finally:
        await engine.dispose()
    return 0 if run.status == "succeeded" else 1


if __name__ == "__main__":
    url, run, assets, latency = sys.argv[1:5]
    sys.exit(asyncio.run(main(url, uuid.UUID(run), int(assets), float(latency))))
