"""Checking a connection: build its connector, call ``check()`` once, classify what happened."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.audit.service import record
from syncbridge.connections import repository
from syncbridge.connections.schemas import CheckStatus, ConnectionCheckOut
from syncbridge.connections.service import (
    ENTITY,
    ConnectionContext,
    SettingsNoLongerFit,
    connector_settings,
)
from syncbridge.connections.ssrf import SSRFRefused
from syncbridge.connector.errors import AuthError, ConnectorError, TransientConnectorError
from syncbridge.connector.spec import Connector
from syncbridge.logs import get_logger
from syncbridge.models import Connection
from syncbridge.store.unit_of_work import in_unit_of_work, unit_of_work

log = get_logger(__name__)

#: How long a check may take in all, retries included.
CHECK_TIMEOUT_S = 20.0


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    # A connector may wrap what the transport raised; look down the chain for it.
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def classify(exc: BaseException, timeout_s: float) -> ConnectionCheckOut:
    """The check answer for an error raised while checking."""
    refused = _cause(exc, SSRFRefused)
    if refused is not None:
        return ConnectionCheckOut(status=CheckStatus.unreachable, detail=str(refused))
    if isinstance(exc, TimeoutError):
        return ConnectionCheckOut(
            status=CheckStatus.unreachable, detail=f"no answer within {timeout_s:g} s"
        )
    if isinstance(exc, AuthError):
        return ConnectionCheckOut(status=CheckStatus.auth_failed, detail=str(exc))
    if isinstance(exc, httpx.TimeoutException):
        return ConnectionCheckOut(
            status=CheckStatus.unreachable, detail=f"timed out ({type(exc).__name__})"
        )
    if isinstance(exc, httpx.TransportError):
        return ConnectionCheckOut(
            status=CheckStatus.unreachable, detail=f"could not connect ({type(exc).__name__})"
        )
    if isinstance(exc, TransientConnectorError):
        return ConnectionCheckOut(status=CheckStatus.unreachable, detail=str(exc))
    if isinstance(exc, ConnectorError):
        return ConnectionCheckOut(status=CheckStatus.error, detail=str(exc))
    raise exc


async def _call_check(instance: Connector, timeout_s: float) -> ConnectionCheckOut:
    async with asyncio.timeout(timeout_s):
        result = await instance.check()
    if result.ok:
        return ConnectionCheckOut(
            status=CheckStatus.ok, detail=result.detail, account=dict(result.account)
        )
    return ConnectionCheckOut(status=CheckStatus.error, detail=result.detail)


async def check_connection(
    ctx: ConnectionContext,
    connection: Connection,
    client: httpx.AsyncClient,
    *,
    timeout_s: float = CHECK_TIMEOUT_S,
) -> ConnectionCheckOut:
    """Call the vendor through ``connection`` once, within ``timeout_s``; never raises for
    what the vendor or the network did. The instance is always closed.

    Raises ``SecretsUnreadable`` and the registry's errors, which are not the vendor's doing.
    """
    try:
        settings = connector_settings(ctx, connection)
    except SettingsNoLongerFit as exc:
        return ConnectionCheckOut(status=CheckStatus.error, detail=exc.detail)
    spec = ctx.registry.get(connection.connector_key)
    instance = spec.factory(settings, client)
    try:
        outcome = await _call_check(instance, timeout_s)
    except (ConnectorError, httpx.TransportError, TimeoutError) as exc:
        outcome = classify(exc, timeout_s)
    finally:
        await instance.aclose()
    log.info(
        "connection.checked",
        connection_id=str(connection.id),
        connector=connection.connector_key,
        status=outcome.status.value,
    )
    return outcome


async def check_and_record(
    sessionmaker: async_sessionmaker[AsyncSession],
    ctx: ConnectionContext,
    connection_id: uuid.UUID,
    client: httpx.AsyncClient,
    *,
    actor: str,
) -> ConnectionCheckOut:
    """Call the vendor once through the connection, and audit the outcome.

    Two units of work with the vendor call between them, as every worker step that calls a
    vendor is written: no transaction is open while the vendor answers.
    """
    async with unit_of_work(sessionmaker, write=False) as session:
        connection = await repository.get(session, connection_id)
    outcome = await check_connection(ctx, connection, client)

    async def audit(session: AsyncSession) -> None:
        await record(
            session,
            actor=actor,
            action="connection.check",
            entity_type=ENTITY,
            entity_id=connection.id,
            after=outcome.model_dump(mode="json", exclude={"account"}),
        )

    await in_unit_of_work(sessionmaker, audit)
    return outcome
