"""Find connectors through the ``syncbridge.connectors`` entry-point group, load them lazily.

An entry point is imported only when its key is first asked for, checked (a ``ConnectorSpec``
whose ``key`` is the entry-point name), and cached. A broken one raises
``ConnectorLoadError`` naming the key and the cause, chained from the original exception;
it never takes the others down with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from syncbridge.connector.errors import ConnectorLoadError, ConnectorNotFound
from syncbridge.connector.spec import ConnectorSpec
from syncbridge.logs import get_logger

log = get_logger(__name__)

#: The entry-point group connector distributions declare their spec in.
ENTRY_POINT_GROUP = "syncbridge.connectors"


class ConnectorRegistry:
    """The connectors this process knows: installed entry points plus in-process specs."""

    def __init__(self, entry_points: Iterable[EntryPoint] = ()) -> None:
        self._entry_points: dict[str, EntryPoint] = {}
        self._specs: dict[str, ConnectorSpec] = {}
        for ep in entry_points:
            known = self._entry_points.get(ep.name)
            if known is None:
                self._entry_points[ep.name] = ep
            elif known.value != ep.value:
                # Two distributions claim one key: the first wins, as importlib lists them.
                log.warning(
                    "connector.duplicate_key", key=ep.name, kept=known.value, ignored=ep.value
                )

    @classmethod
    def from_entry_points(cls, group: str = ENTRY_POINT_GROUP) -> ConnectorRegistry:
        """A registry of every connector installed in this environment (nothing is imported)."""
        return cls(entry_points(group=group))

    def register(self, spec: ConnectorSpec, *, replace: bool = False) -> None:
        """Add an in-process connector (tests, embedded plugins).

        Raises ``ValueError`` when the key is taken, unless ``replace`` is true.
        """
        if not isinstance(spec, ConnectorSpec):
            raise TypeError(f"expected a ConnectorSpec, got {type(spec).__name__}")
        if not replace and spec.key in self:
            raise ValueError(f"connector '{spec.key}' is already registered")
        self._entry_points.pop(spec.key, None)
        self._specs[spec.key] = spec

    def keys(self) -> list[str]:
        """Every known key, sorted, without loading anything."""
        return sorted(self._entry_points.keys() | self._specs.keys())

    def __contains__(self, key: object) -> bool:
        return key in self._specs or key in self._entry_points

    def get(self, key: str) -> ConnectorSpec:
        """The spec under ``key``, loaded on first use and cached.

        Raises ``ConnectorNotFound`` for an unknown key and ``ConnectorLoadError`` when the
        entry point fails to import or is not a matching ``ConnectorSpec``.
        """
        spec = self._specs.get(key)
        if spec is not None:
            return spec
        ep = self._entry_points.get(key)
        if ep is None:
            installed = ", ".join(self.keys()) or "none"
            raise ConnectorNotFound(
                f"unknown connector '{key}'; installed: {installed}",
                extra={"connector": key, "installed": self.keys()},
            )
        spec = _load(key, ep)
        self._specs[key] = spec
        return spec

    def load_all(self) -> dict[str, ConnectorSpec | ConnectorLoadError]:
        """Load every connector; a broken one maps to its error instead of raising."""
        out: dict[str, ConnectorSpec | ConnectorLoadError] = {}
        for key in self.keys():
            try:
                out[key] = self.get(key)
            except ConnectorLoadError as exc:
                out[key] = exc
        return out


def _load(key: str, ep: EntryPoint) -> ConnectorSpec:
    try:
        loaded = ep.load()
    except Exception as exc:
        # Any import-time failure of a plugin is its own bug; report it as that plugin's.
        raise ConnectorLoadError(
            f"connector '{key}' failed to load from '{ep.value}': {type(exc).__name__}: {exc}",
            extra={"connector": key},
        ) from exc
    if not isinstance(loaded, ConnectorSpec):
        raise ConnectorLoadError(
            f"connector '{key}': '{ep.value}' is a {type(loaded).__name__}, not a ConnectorSpec",
            extra={"connector": key},
        )
    if loaded.key != key:
        raise ConnectorLoadError(
            f"connector '{key}': '{ep.value}' declares key '{loaded.key}'",
            extra={"connector": key},
        )
    return loaded


__all__ = ["ENTRY_POINT_GROUP", "ConnectorRegistry"]
