"""What a connector distribution exports for the sandbox: its simulator or its sample files.

A connector declares its :class:`~syncbridge.connector.spec.ConnectorSpec` in the entry-point
group ``syncbridge.connectors`` and, separately, a :class:`SandboxSpec` in the group
``syncbridge.sandboxes``. The two are loaded apart, so running a connector in production
never imports its simulator (nor the web framework a simulator is built on): only
``syncbridge sandbox ...``, ``serve --sandbox`` and the tests load the sandbox group.

Each sandbox entry point names a module attribute, conventionally ``syncbridge_<key>.sandbox:
sandbox``, and that module imports the simulator; keep the connector's own modules free of
any import of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from syncbridge.connector.registry import EntryPointRegistry
from syncbridge.sandbox.faults import FaultKnobs
from syncbridge.sandbox.world import World

#: The entry-point group connector distributions declare their sandbox in.
SANDBOX_ENTRY_POINT_GROUP = "syncbridge.sandboxes"


@runtime_checkable
class Simulator(Protocol):
    """A vendor simulator: an ASGI app that can say how a connection reaches it."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Serve one ASGI request."""
        ...

    def connection_settings(self, base_url: str) -> Mapping[str, Any]:
        """The settings of a connection that reaches this simulator at ``base_url``.

        Sandbox credentials are public test values; they may be printed.
        """
        ...


class SimulatorFactory(Protocol):
    """``simulator(world, faults=...)``: a simulator serving ``world``, failing as told."""

    def __call__(self, world: World, *, faults: FaultKnobs | None = None) -> Simulator: ...


#: ``materialize(world, folder)``: write ``world`` as files into ``folder`` (it exists and
#: is empty) and return the settings of a connection that reads that folder.
Materializer = Callable[[World, Path], Mapping[str, Any]]


@dataclass(frozen=True)
class SandboxSpec:
    """The entry point object of a connector's sandbox (group ``syncbridge.sandboxes``).

    Exactly one of ``simulator`` (vendors reached over HTTP) and ``materialize`` (file-based
    systems) is set.
    """

    key: str
    simulator: SimulatorFactory | None = None
    materialize: Materializer | None = None
    #: What the simulator implements and leaves out, for ``syncbridge sandbox list``.
    description: str = ""

    def __post_init__(self) -> None:
        if (self.simulator is None) == (self.materialize is None):
            raise ValueError(f"sandbox '{self.key}': set exactly one of simulator, materialize")


class SandboxRegistry(EntryPointRegistry[SandboxSpec]):
    """The sandboxes this process knows (group ``syncbridge.sandboxes``), loaded lazily."""

    group = SANDBOX_ENTRY_POINT_GROUP
    spec_type = SandboxSpec
    noun = "sandbox"


__all__ = [
    "SANDBOX_ENTRY_POINT_GROUP",
    "Materializer",
    "SandboxRegistry",
    "SandboxSpec",
    "Simulator",
    "SimulatorFactory",
]
