"""FastAPI dependencies: the request's unit of work, the calling principal and role checks.

The request owns its transaction: :class:`UnitOfWorkRoute` opens one unit of work per
attempt around the dependencies and the handler, commits it after the handler returns and
before the response is sent, rolls it back when anything raises, and re-runs the whole
attempt (a fresh transaction) when the database reports a serialization failure or a
deadlock. :func:`get_session` hands that transaction's session to the handler. Handlers and
services never commit. The session begins lazily: an endpoint that never touches it (one
that calls a vendor) holds no connection and no transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.auth.service import KeyCache, Principal, Role
from syncbridge.errors import Forbidden, Unauthorized
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import in_unit_of_work, unit_of_work

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


_SESSION = "syncbridge_session"


async def get_session(request: Request) -> AsyncSession:
    """The session of the request's unit of work (opened by :class:`UnitOfWorkRoute`)."""
    session: AsyncSession | None = getattr(request.state, _SESSION, None)
    if session is None:
        raise RuntimeError(
            "no unit of work: routes that take a session must use route_class=UnitOfWorkRoute"
        )
    return session


async def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    """For the steps that need several units of work (a vendor call between two)."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return maker


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


class UnitOfWorkRoute(APIRoute):
    """A route whose request is one unit of work: dependencies and handler run inside it, it
    commits before the response is sent, and the whole attempt is re-run (in a new
    transaction) when the database asks for a retry. The body is read once and cached."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            async def attempt(session: AsyncSession) -> Response:
                setattr(request.state, _SESSION, session)
                return await handler(request)

            maker = request.app.state.sessionmaker
            return await in_unit_of_work(maker, attempt, write=_writes(request))

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
#: An editor, for the endpoints that hold no transaction while they work (uploads).
EditorCallingVendor = Annotated[Principal, Depends(require(Role.editor, alone=True))]
