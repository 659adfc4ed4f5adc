"""Find connectors (and their sandboxes) through entry-point groups, load them lazily.

An entry point is imported only when its key is first asked for, checked (a spec of the
group's type whose ``key`` is the entry-point name), and cached. A broken one raises
``ConnectorLoadError`` naming the key and the cause, chained from the original exception;
it never takes the others down with it.

Two groups, loaded apart: ``syncbridge.connectors`` (what production runs) and
``syncbridge.sandboxes`` (vendor simulators and sample files, for the sandbox and tests), so
loading a connector never imports its simulator.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

from syncbridge.connector.errors import ConnectorLoadError, ConnectorNotFound
from syncbridge.connector.spec import ConnectorSpec
from syncbridge.logs import get_logger

log = get_logger(__name__)

#: The entry-point group connector distributions declare their spec in.
ENTRY_POINT_GROUP = "syncbridge.connectors"


class _Keyed(Protocol):
    @property
    def key(self) -> str: ...


SpecT = TypeVar("SpecT", bound=_Keyed)


class EntryPointRegistry(Generic[SpecT]):
    """Specs of one type found in one entry-point group, plus in-process ones."""

    #: The group searched by ``from_entry_points``.
    group: ClassVar[str]
    #: The spec type every entry point must resolve to.
    spec_type: ClassVar[type[Any]]
    #: What a spec is called in messages ("connector", "sandbox").
    noun: ClassVar[str]

    def __init__(self, entry_points: Iterable[EntryPoint] = ()) -> None:
        self._entry_points: dict[str, EntryPoint] = {}
        self._specs: dict[str, SpecT] = {}
        for ep in entry_points:
            known = self._entry_points.get(ep.name)
            if known is None:
                self._entry_points[ep.name] = ep
            elif known.value != ep.value:
                # Two distributions claim one key: the first wins, as importlib lists them.
                log.warning(
                    f"{self.noun}.duplicate_key", key=ep.name, kept=known.value, ignored=ep.value
                )

    @classmethod
    def from_entry_points(cls, group: str | None = None) -> Self:
        """Every spec installed in this environment (nothing is imported)."""
        return cls(entry_points(group=group or cls.group))

    def register(self, spec: SpecT, *, replace: bool = False) -> None:
        """Add an in-process spec (tests, embedded plugins).

        Raises ``ValueError`` when the key is taken, unless ``replace`` is true.
        """
        if not isinstance(spec, self.spec_type):
            raise TypeError(f"expected a {self.spec_type.__name__}, got {type(spec).__name__}")
        if not replace and spec.key in self:
            raise ValueError(f"{self.noun} '{spec.key}' is already registered")
        self._entry_points.pop(spec.key, None)
        self._specs[spec.key] = spec

    def keys(self) -> list[str]:
        """Every known key, sorted, without loading anything."""
        return sorted(self._entry_points.keys() | self._specs.keys())

    def __contains__(self, key: object) -> bool:
        return key in self._specs or key in self._entry_points

    def get(self, key: str) -> SpecT:
        """The spec under ``key``, loaded on first use and cached.

        Raises ``ConnectorNotFound`` for an unknown key and ``ConnectorLoadError`` when the
        entry point fails to import or is not a matching spec.
        """
        spec = self._specs.get(key)
        if spec is not None:
            return spec
        ep = self._entry_points.get(key)
        if ep is None:
            installed = ", ".join(self.keys()) or "none"
            raise ConnectorNotFound(
                f"unknown {self.noun} '{key}'; installed: {installed}",
                extra={"connector": key, "installed": self.keys()},
            )
        spec = self._load(key, ep)
        self._specs[key] = spec
        return spec

    def load_all(self) -> dict[str, SpecT | ConnectorLoadError]:
        """Load every spec; a broken one maps to its error instead of raising."""
        out: dict[str, SpecT | ConnectorLoadError] = {}
        for key in self.keys():
            try:
                out[key] = self.get(key)
            except ConnectorLoadError as exc:
                out[key] = exc
        return out

    def _load(self, key: str, ep: EntryPoint) -> SpecT:
        noun = self.noun
        try:
            loaded = ep.load()
        except Exception as exc:
            # Any import-time failure of a plugin is its own bug; report it as that plugin's.
            raise ConnectorLoadError(
                f"{noun} '{key}' failed to load from '{ep.value}': {type(exc).__name__}: {exc}",
                extra={"connector": key},
            ) from exc
        if not isinstance(loaded, self.spec_type):
            raise ConnectorLoadError(
                f"{noun} '{key}': '{ep.value}' is a {type(loaded).__name__}, "
                f"not a {self.spec_type.__name__}",
                extra={"connector": key},
            )
        spec: SpecT = loaded
        if spec.key != key:
            raise ConnectorLoadError(
                f"{noun} '{key}': '{ep.value}' declares key '{spec.key}'",
                extra={"connector": key},
            )
        return spec


class ConnectorRegistry(EntryPointRegistry[ConnectorSpec]):
    """The connectors this process knows: installed entry points plus in-process specs."""

    group = ENTRY_POINT_GROUP
    spec_type = ConnectorSpec
    noun = "connector"


__all__ = ["ENTRY_POINT_GROUP", "ConnectorRegistry", "EntryPointRegistry"]
