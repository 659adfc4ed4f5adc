"""Which handler runs each kind of job.

Handlers come from code (:meth:`HandlerRegistry.register`), from installed packages (entry
points in the ``syncbridge.jobs`` group) and from modules named in the
``SYNCBRIDGE_JOB_MODULES`` setting. An entry point or module provides
``register(registry: HandlerRegistry) -> None``.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from importlib.metadata import entry_points

from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.jobs.context import Handler

#: The entry-point group of packages that bring job handlers.
ENTRY_POINT_GROUP = "syncbridge.jobs"

Registrar = Callable[["HandlerRegistry"], None]

#: What a kind does, in the transaction that buries one of its jobs (``session``, the job's
#: id, its last error, now): end what the job leaves unfinished, such as its run.
DeadHook = Callable[[AsyncSession, uuid.UUID, str, datetime], Awaitable[None]]


class HandlerLoadError(Exception):
    """A module or entry point named as a source of handlers could not be used."""


class HandlerRegistry:
    """``kind -> handler``; a kind has exactly one handler."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._on_dead: dict[str, DeadHook] = {}

    def register(self, kind: str, handler: Handler, *, on_dead: DeadHook | None = None) -> None:
        """Run ``handler`` for jobs of ``kind``; a kind registered twice is an error.

        ``on_dead`` runs in the transaction that makes a job of ``kind`` dead, whether its
        last attempt failed or the worker holding it stopped renewing its lease."""
        if kind in self._handlers:
            raise ValueError(f"a handler for job kind {kind!r} is already registered")
        self._handlers[kind] = handler
        if on_dead is not None:
            self._on_dead[kind] = on_dead

    def handles(self, kind: str) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`register`."""

        def decorate(handler: Handler) -> Handler:
            self.register(kind, handler)
            return handler

        return decorate

    def get(self, kind: str) -> Handler | None:
        return self._handlers.get(kind)

    def on_dead(self, kind: str) -> DeadHook | None:
        """What ``kind`` does when one of its jobs dies (None: nothing)."""
        return self._on_dead.get(kind)

    @property
    def kinds(self) -> list[str]:
        """The kinds a worker with this registry claims."""
        return sorted(self._handlers)

    @classmethod
    def load(
        cls, modules: Iterable[str] = (), *, entry_point_group: str = ENTRY_POINT_GROUP
    ) -> HandlerRegistry:
        """A registry filled by every installed entry point, then by ``modules``."""
        registry = cls()
        for entry_point in entry_points(group=entry_point_group):
            try:
                registrar = entry_point.load()
            except Exception as exc:
                raise HandlerLoadError(
                    f"job handlers entry point {entry_point.name!r} failed to load: "
                    f"{type(exc).__name__}"
                ) from exc
            registry._apply(registrar, f"entry point {entry_point.name!r}")
        for name in modules:
            try:
                module = importlib.import_module(name)
            except ImportError as exc:
                raise HandlerLoadError(f"job handlers module {name!r} not found") from exc
            registry._apply(getattr(module, "register", None), f"module {name!r}")
        return registry

    def _apply(self, registrar: object, source: str) -> None:
        if not callable(registrar):
            raise HandlerLoadError(f"job handlers {source} has no register(registry) function")
        registrar(self)
