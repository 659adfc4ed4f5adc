"""Files pushed to a connection (``POST /v1/connections/{id}/uploads``), such as CSV exports.

Two units of work with the transfer between them, as for a vendor call: the connection is
read in a short read transaction, the body streams into the connector (which stores it
atomically, whole or not at all, and checks it), and the upload is audited in a second one.
No transaction is open while the bytes arrive.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.audit.service import record
from syncbridge.connections import repository
from syncbridge.connections.schemas import UploadOut
from syncbridge.connections.service import ENTITY, ConnectionContext, connector_settings
from syncbridge.connector.spec import AcceptsUploads
from syncbridge.connector.types import Capability
from syncbridge.errors import Conflict
from syncbridge.logs import get_logger
from syncbridge.store.unit_of_work import in_unit_of_work, unit_of_work

log = get_logger(__name__)


async def receive_upload(
    sessionmaker: async_sessionmaker[AsyncSession],
    ctx: ConnectionContext,
    connection_id: uuid.UUID,
    client: httpx.AsyncClient,
    filename: str,
    chunks: AsyncIterator[bytes],
    max_bytes: int,
    *,
    actor: str,
) -> UploadOut:
    """Hand the streamed file to the connection's connector; audit what it stored.

    Raises ``NotFound`` (no such connection), ``Conflict`` (its connector takes no uploads,
    or its stored settings no longer fit) and the connector's refusal (bad name or content:
    4xx; past ``max_bytes``: 413).
    """
    async with unit_of_work(sessionmaker, write=False) as session:
        connection = await repository.get(session, connection_id)
    spec = ctx.registry.get(connection.connector_key)
    if Capability.uploads not in spec.capabilities:
        raise Conflict(f"The '{spec.key}' connector takes no uploads; it reads its vendor.")
    instance = spec.factory(connector_settings(ctx, connection), client)
    try:
        if not isinstance(instance, AcceptsUploads):
            raise Conflict(f"The '{spec.key}' connector declares uploads but cannot take them.")
        receipt = await instance.accept_upload(filename, chunks, max_bytes)
    finally:
        await instance.aclose()
    out = UploadOut(
        file=receipt.file,
        size=receipt.size,
        streams=list(receipt.streams),
        details=dict(receipt.details),
    )

    async def audit(session: AsyncSession) -> None:
        await record(
            session,
            actor=actor,
            action="connection.upload",
            entity_type=ENTITY,
            entity_id=connection.id,
            after=out.model_dump(mode="json"),
        )

    await in_unit_of_work(sessionmaker, audit)
    log.info(
        "connection.upload_stored",
        connection_id=str(connection.id),
        file=out.file,
        size=out.size,
    )
    return out
