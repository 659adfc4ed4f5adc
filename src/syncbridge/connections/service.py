"""Connections: validate settings with the connector's model, keep secrets encrypted apart.

A connection's non-secret settings live in ``Connection.settings`` (JSON); its secret
fields (``settings_model.secret_fields()``) live in ``Connection.secrets``, one Fernet token.
Nothing here returns, logs or audits a secret: views show ``"***"`` for a set secret field.
Services flush; the caller commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.audit.service import record
from syncbridge.connections import repository
from syncbridge.connections.schemas import (
    SECRET_MASK,
    ConnectionCreate,
    ConnectionOut,
    ConnectionUpdate,
)
from syncbridge.connections.secrets import SecretBox, SecretsUnreadable
from syncbridge.connections.ssrf import Resolver, resolve_host, validate_url
from syncbridge.connector.errors import ConnectorError, ConnectorNotFound
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.connector.spec import ConnectorSettings, ConnectorSpec, HostPolicy
from syncbridge.errors import Conflict, InvalidInput
from syncbridge.linking.links import drop_links_of_connection
from syncbridge.logs import get_logger
from syncbridge.mapping.service import rules_of_connection
from syncbridge.models import Connection
from syncbridge.store import revisions
from syncbridge.store.paging import Page, PageParams
from syncbridge.store.preconditions import UNCONDITIONAL, Precondition

log = get_logger(__name__)

ENTITY = "connection"


@dataclass(frozen=True)
class ConnectionContext:
    """What connection work needs besides the session: connectors, keys and the SSRF policy."""

    registry: ConnectorRegistry
    box: SecretBox
    allow_local: bool
    resolver: Resolver = field(default=resolve_host)
    #: Local origins allowed all the same (the sandbox's simulators); see ``ssrf``.
    allowed_origins: frozenset[str] = frozenset()
    #: What connections may use beyond their settings (the sandbox's folders).
    policy: HostPolicy = field(default_factory=HostPolicy)


def _spec(ctx: ConnectionContext, key: str) -> ConnectorSpec:
    try:
        return ctx.registry.get(key)
    except ConnectorNotFound as exc:
        installed = ", ".join(ctx.registry.keys()) or "none"
        raise InvalidInput(
            f"Unknown connector '{key}'; installed: {installed}.",
            errors=[{"field": "connector", "reason": f"not installed; installed: {installed}"}],
        ) from exc


def _validated(
    ctx: ConnectionContext, spec: ConnectorSpec, raw: Mapping[str, Any]
) -> ConnectorSettings:
    try:
        return spec.settings_model.validate_with(raw, ctx.policy)
    except ValidationError as exc:
        # Only the location and message: pydantic's "input" would echo a secret back.
        errors = [
            {
                "field": ".".join(["settings", *(str(p) for p in e["loc"])]),
                "reason": e["msg"],
            }
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise InvalidInput(
            f"The settings do not fit the '{spec.key}' connector.", errors=errors
        ) from None


def _refuse_masks(spec: ConnectorSpec, raw: Mapping[str, Any]) -> None:
    masked = sorted(n for n in spec.settings_model.secret_fields() if raw.get(n) == SECRET_MASK)
    if masked:
        raise _secret_fields_error(
            "A secret field holds the mask '***' instead of a value.",
            masked,
            "'***' is the mask; send the secret",
        )


def _secret_fields_error(detail: str, names: list[str], reason: str) -> InvalidInput:
    return InvalidInput(
        detail, errors=[{"field": f"settings.{name}", "reason": reason} for name in names]
    )


def _split(model: ConnectorSettings) -> tuple[dict[str, Any], dict[str, str]]:
    secret_names = type(model).secret_fields()
    public = model.model_dump(mode="json", exclude=set(secret_names))
    secrets: dict[str, str] = {}
    for name in secret_names:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            secrets[name] = value.get_secret_value()
    return public, secrets


async def _check_urls(ctx: ConnectionContext, model: ConnectorSettings) -> None:
    for name in sorted(type(model).url_fields()):
        value = getattr(model, name)
        if value is not None:
            await validate_url(
                str(value),
                allow_local=ctx.allow_local,
                allowed_origins=ctx.allowed_origins,
                field=f"settings.{name}",
                resolver=ctx.resolver,
            )


def read_secrets(ctx: ConnectionContext, connection: Connection) -> dict[str, Any]:
    """The decrypted secret settings of ``connection``; raises ``SecretsUnreadable``."""
    return ctx.box.decrypt(connection.secrets, connection=connection.name)


class SettingsNoLongerFit(Conflict):
    """A connection's stored settings fail its connector's current settings model (the
    connector changed since they were saved, or the host's policy narrowed)."""


def connector_settings(ctx: ConnectionContext, connection: Connection) -> ConnectorSettings:
    """The validated settings model of ``connection``, secrets included: what a factory takes.

    Raises ``ConnectorNotFound``/``ConnectorLoadError`` for a missing connector,
    ``SecretsUnreadable`` when no key decrypts the secrets and ``SettingsNoLongerFit``
    (naming the fields, never their values) when the stored settings fail validation.
    """
    spec = ctx.registry.get(connection.connector_key)
    raw = {**connection.settings, **read_secrets(ctx, connection)}
    try:
        return spec.settings_model.validate_with(raw, ctx.policy)
    except ValidationError as exc:
        fields = ", ".join(sorted({".".join(map(str, e["loc"])) for e in exc.errors()}))
        raise SettingsNoLongerFit(
            f"The stored settings no longer fit the connector ({fields}); update them."
        ) from None


def view(ctx: ConnectionContext, connection: Connection) -> ConnectionOut:
    """The API view of ``connection``: secret fields as ``"***"`` when set, null when not."""
    try:
        names: frozenset[str] = ctx.registry.get(
            connection.connector_key
        ).settings_model.secret_fields()
    except ConnectorError:
        names = frozenset()
    try:
        present = set(read_secrets(ctx, connection))
        readable = True
    except SecretsUnreadable:
        present, readable = set(), False
    masked = {name: SECRET_MASK if name in present else None for name in names | present}
    return ConnectionOut(
        id=connection.id,
        connector=connection.connector_key,
        name=connection.name,
        settings={**connection.settings, **masked},
        enabled=connection.enabled,
        secrets_readable=readable,
        revision=connection.revision,
        created_at=connection.created_at,
        updated_at=connection.updated_at,
    )


def _audit_view(ctx: ConnectionContext, connection: Connection) -> dict[str, Any]:
    return view(ctx, connection).model_dump(mode="json", exclude={"created_at", "updated_at"})


def _masked(ctx: ConnectionContext, connection: Connection) -> dict[str, Any]:
    return view(ctx, connection).model_dump(mode="json")


async def _flush_unique(session: AsyncSession, name: str) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"A connection named '{name}' already exists.",
            errors=[{"field": "name", "reason": "already taken"}],
        ) from exc


async def create_connection(
    session: AsyncSession, ctx: ConnectionContext, body: ConnectionCreate, *, actor: str
) -> Connection:
    """Validate and store a new connection (audited). 422 on bad settings, 409 on its name."""
    spec = _spec(ctx, body.connector)
    _refuse_masks(spec, body.settings)
    model = _validated(ctx, spec, body.settings)
    await _check_urls(ctx, model)
    public, secrets = _split(model)
    connection = Connection(
        connector_key=spec.key,
        name=body.name,
        settings=public,
        secrets=ctx.box.encrypt(secrets),
        enabled=body.enabled,
        revision=1,
    )
    session.add(connection)
    await _flush_unique(session, body.name)
    await revisions.lock_for_write(session, revisions.CONNECTIONS)
    await record(
        session,
        actor=actor,
        action="connection.create",
        entity_type=ENTITY,
        entity_id=connection.id,
        after=_audit_view(ctx, connection),
    )
    log.info("connection.created", connection_id=str(connection.id), connector=spec.key)
    return connection


def _merged(
    spec: ConnectorSpec, stored: dict[str, Any], changes: Mapping[str, Any]
) -> dict[str, Any]:
    secret_names = spec.settings_model.secret_fields()
    merged = dict(stored)
    for name, value in changes.items():
        if name in secret_names and value == SECRET_MASK:
            continue  # "***" is what the API showed: keep the stored secret
        merged[name] = value
    return merged


def _require_secrets_on_new_url(
    spec: ConnectorSpec, stored: Mapping[str, Any], changes: Mapping[str, Any]
) -> None:
    """Refuse to carry stored secrets over to a new vendor URL unless they are re-entered.

    Otherwise anyone who may edit a connection could point it at their own host and have
    syncbridge send it the stored credentials on the next call.
    """
    model = spec.settings_model
    if not any(
        name in changes and changes[name] != stored.get(name) for name in model.url_fields()
    ):
        return
    missing = sorted(
        name
        for name in model.secret_fields()
        if stored.get(name) is not None and changes.get(name, SECRET_MASK) == SECRET_MASK
    )
    if missing:
        raise _secret_fields_error(
            "The vendor URL changed: re-enter the secrets to send them to the new URL.",
            missing,
            "must be re-entered when a URL changes",
        )


async def update_connection(
    session: AsyncSession,
    ctx: ConnectionContext,
    connection: Connection,
    body: ConnectionUpdate,
    *,
    actor: str,
) -> Connection:
    """Merge ``body`` into ``connection`` and re-validate the whole (audited)."""
    before = _audit_view(ctx, connection)
    if body.settings is not None:
        spec = _spec(ctx, connection.connector_key)
        stored = {**connection.settings, **read_secrets(ctx, connection)}
        model = _validated(ctx, spec, _merged(spec, stored, body.settings))
        _require_secrets_on_new_url(spec, stored, body.settings)
        await _check_urls(ctx, model)
        public, secrets = _split(model)
        connection.settings = public
        connection.secrets = ctx.box.encrypt(secrets)
    if body.name is not None:
        connection.name = body.name
    if body.enabled is not None:
        connection.enabled = body.enabled
    if session.is_modified(connection):
        connection.revision += 1
        await revisions.lock_for_write(session, revisions.CONNECTIONS)
    await _flush_unique(session, connection.name)
    await session.refresh(connection)
    await record(
        session,
        actor=actor,
        action="connection.update",
        entity_type=ENTITY,
        entity_id=connection.id,
        before=before,
        after=_audit_view(ctx, connection),
    )
    log.info("connection.updated", connection_id=str(connection.id))
    return connection


async def delete_connection(
    session: AsyncSession, ctx: ConnectionContext, connection: Connection, *, actor: str
) -> None:
    """Delete ``connection`` with its stored assets, records and their links (audited)."""
    before = _audit_view(ctx, connection)
    await drop_links_of_connection(session, connection.id)
    await session.delete(connection)
    await session.flush()
    await revisions.lock_for_write(session, revisions.CONNECTIONS)
    await record(
        session,
        actor=actor,
        action="connection.delete",
        entity_type=ENTITY,
        entity_id=connection.id,
        before=before,
    )
    log.info("connection.deleted", connection_id=str(connection.id))


async def rotate_secrets(
    session: AsyncSession,
    box: SecretBox,
    *,
    actor: str,
    on_row: Callable[[int, int], None] | None = None,
) -> int:
    """Re-encrypt every connection's secrets under the first key; returns how many rows.

    All rows or none: raises ``SecretsUnreadable`` (naming the connection) before anything is
    committed when a row is unreadable. Every process that writes connections must already
    run with the new key first, or it would keep writing under the old one.
    """
    rows = await repository.all_for_update(session)
    for done, connection in enumerate(rows, start=1):
        connection.secrets = box.rotate(connection.secrets, connection=connection.name)
        if on_row is not None:
            on_row(done, len(rows))
    await session.flush()
    await revisions.lock_for_write(session, revisions.CONNECTIONS)
    await record(
        session,
        actor=actor,
        action="connection.rotate_secrets",
        entity_type=ENTITY,
        entity_id=None,
        after={"connections": len(rows), "keys": box.key_count},
    )
    log.info("connection.secrets_rotated", connections=len(rows), keys=box.key_count)
    return len(rows)


# --- what the API answers: one call per endpoint ----------------------------------------


async def list_page(
    session: AsyncSession, ctx: ConnectionContext, paging: PageParams, connector: str | None
) -> Page[ConnectionOut]:
    """Every connection by name; secret fields read ``"***"`` when set."""
    stmt = repository.connections_query(connector=connector)
    rows, total = await repository.page(session, stmt, paging.limit, paging.offset)
    return Page.of([view(ctx, r) for r in rows], total, paging)


async def show(
    session: AsyncSession, ctx: ConnectionContext, connection_id: uuid.UUID
) -> ConnectionOut:
    return view(ctx, await repository.get(session, connection_id))


async def create(
    session: AsyncSession, ctx: ConnectionContext, body: ConnectionCreate, *, actor: str
) -> ConnectionOut:
    return view(ctx, await create_connection(session, ctx, body, actor=actor))


async def update(
    session: AsyncSession,
    ctx: ConnectionContext,
    connection_id: uuid.UUID,
    body: ConnectionUpdate,
    *,
    actor: str,
    expect: Precondition = UNCONDITIONAL,
) -> ConnectionOut:
    """Merge ``body`` into the connection (its row locked), unless ``expect`` is stale."""
    connection = await repository.get(session, connection_id, for_update=True)
    expect.check(connection.revision, f"Connection {connection_id}")
    return view(ctx, await update_connection(session, ctx, connection, body, actor=actor))


async def delete(
    session: AsyncSession,
    ctx: ConnectionContext,
    connection_id: uuid.UUID,
    *,
    actor: str,
    expect: Precondition = UNCONDITIONAL,
) -> None:
    # Rules scoped to a connection are catalog data: lock the catalog so no rule can be
    # scoped to the connection while it goes.
    await revisions.lock_for_write(session, revisions.CATALOG)
    connection = await repository.get(session, connection_id, for_update=True)
    expect.check(connection.revision, f"Connection {connection_id}")
    rules = await rules_of_connection(session, connection_id)
    if rules:
        raise Conflict(
            f"{len(rules)} mapping rule(s) are scoped to this connection; archive them or "
            "change their connection first.",
            extra={"mappings": [{"id": str(r.id), "name": r.name} for r in rules]},
        )
    await delete_connection(session, ctx, connection, actor=actor)
