"""FastAPI dependencies: the request's unit of work, the calling principal and role checks.

The request owns its transaction: :func:`get_session` (function scope) opens it, commits
after the handler returns and before the response is sent, and rolls back when the handler
raises. Handlers and services never commit. :class:`UnitOfWorkRoute` re-runs the whole
request when the database reports a serialization failure or a deadlock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.auth.service import KeyCache, Principal, Role
from syncbridge.errors import Forbidden, Unauthorized
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import retrying, unit_of_work

#: Methods that never write: their transaction is a read transaction.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


#: The attribute :func:`read_only` sets on an endpoint.
_READ_ONLY = "syncbridge_read_only"

F = TypeVar("F", bound=Callable[..., Any])


def read_only(endpoint: F) -> F:
    """Mark a POST endpoint that writes nothing (a preview): its unit of work is a read
    transaction, which on SQLite never waits for, or holds, the write lock."""
    setattr(endpoint, _READ_ONLY, True)
    return endpoint


def _writes(request: Request) -> bool:
    if request.method in READ_METHODS:
        return False
    return not getattr(request.scope.get("endpoint"), _READ_ONLY, False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed before the response, rolled back on error."""
    write = _writes(request)
    async with unit_of_work(request.app.state.sessionmaker, write=write) as session:
        yield session


def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    """For the steps that need several units of work (a vendor call between two)."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return maker


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


class UnitOfWorkRoute(APIRoute):
    """A route whose whole request (dependencies, handler and commit) is re-run when the
    database asks for a retry. The body is read once and cached by the request."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            async for attempt in retrying():
                with attempt:
                    return await handler(request)
            raise AssertionError("unreachable: tenacity re-raises")  # pragma: no cover

        return run


MISSING_KEY_DETAIL = "An API key is required: send 'Authorization: Bearer <key>'."

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer sbk_...`")


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def _authenticate(
    request: Request, credentials: HTTPAuthorizationCredentials | None, session: AsyncSession
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized(MISSING_KEY_DETAIL)
    keys: KeyCache = request.app.state.keys
    principal = await keys.authenticate(session, credentials.credentials)
    if principal is None:
        raise Unauthorized("The API key is unknown or revoked.")
    return principal


async def get_principal(
    request: Request, credentials: Credentials, session: SessionDep
) -> Principal:
    """The caller, from a bearer API key; 401 when missing or unknown. The key is looked up
    in the request's own transaction."""
    return await _authenticate(request, credentials, session)


async def get_principal_alone(request: Request, credentials: Credentials) -> Principal:
    """The caller, looked up in a short transaction of its own: for the endpoints that call
    a vendor and so must hold no transaction while they run."""
    async with unit_of_work(request.app.state.sessionmaker, write=False) as session:
        return await _authenticate(request, credentials, session)


def require(role: Role, *, alone: bool = False) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that lets through callers whose role includes ``role`` (else 403);
    ``alone`` authenticates outside the request's transaction."""
    source = get_principal_alone if alone else get_principal

    # A default, not an annotation: annotations are strings here and ``source`` is local.
    async def check(principal: Principal = Depends(source)) -> Principal:
        if not principal.role.allows(role):
            raise Forbidden(f"This needs the '{role.value}' role; the key has '{principal.role}'.")
        return principal

    return check


Viewer = Annotated[Principal, Depends(require(Role.viewer))]
Editor = Annotated[Principal, Depends(require(Role.editor))]
Admin = Annotated[Principal, Depends(require(Role.admin))]
#: An admin of an endpoint that calls a vendor: no transaction stays open for the request.
AdminCallingVendor = Annotated[Principal, Depends(require(Role.admin, alone=True))]
