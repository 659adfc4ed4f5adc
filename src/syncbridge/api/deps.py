"""FastAPI dependencies: the request's session, the calling principal and role checks.

Write handlers own their transaction: they call ``await session.commit()`` before
returning, so the commit happens before the response is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.auth.service import Principal, Role, authenticate
from syncbridge.errors import Forbidden, Unauthorized
from syncbridge.settings import Settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; rolled back if the handler did not commit."""
    async with request.app.state.sessionmaker() as session:
        yield session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

MISSING_KEY_DETAIL = "An API key is required: send 'Authorization: Bearer <key>'."

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer sbk_...`")


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from a bearer API key; 401 when missing or unknown."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized(MISSING_KEY_DETAIL)
    async with request.app.state.sessionmaker() as session:
        principal = await authenticate(session, credentials.credentials)
    if principal is None:
        raise Unauthorized("The API key is unknown or revoked.")
    return principal


def require(role: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that lets through callers whose role includes ``role`` (else 403)."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.role.allows(role):
            raise Forbidden(f"This needs the '{role.value}' role; the key has '{principal.role}'.")
        return principal

    return check


Viewer = Annotated[Principal, Depends(require(Role.viewer))]
Editor = Annotated[Principal, Depends(require(Role.editor))]
Admin = Annotated[Principal, Depends(require(Role.admin))]
