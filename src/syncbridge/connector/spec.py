"""What a connector distribution exports: its spec, its settings model and its instances."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from syncbridge.connector.errors import TransientConnectorError
from syncbridge.connector.types import (
    Capability,
    CheckResult,
    Page,
    Record,
    Ref,
    StreamSpec,
    SystemKind,
    TagChange,
    WebhookEvent,
    WriteOutcome,
)


class ConnectorSettings(BaseModel):
    """Base of every connector's settings model. Credentials are ``SecretStr`` fields."""

    # NaN and infinities are refused in every connector's numbers: they pass "> 0" checks and
    # then break whatever uses them (timedelta, sleeps, rate budgets).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @classmethod
    def secret_fields(cls) -> frozenset[str]:
        """Names of the fields stored encrypted and never returned."""
        return frozenset(
            name
            for name, info in cls.model_fields.items()
            if info.annotation is SecretStr or info.annotation == (SecretStr | None)
        )

    @classmethod
    def url_fields(cls) -> frozenset[str]:
        """Names of the fields that hold a URL syncbridge will call (SSRF-checked)."""
        return frozenset(name for name in cls.model_fields if name.endswith("url"))


@runtime_checkable
class Connector(Protocol):
    """One live connection to a vendor. No database work, no mapping: vendor JSON in and out."""

    async def check(self) -> CheckResult:
        """Call the vendor cheaply to prove reachability and credentials."""
        ...

    def streams(self) -> Sequence[StreamSpec]:
        """The streams this connector reads."""
        ...

    def read(self, stream: str, cursor: str | None) -> AsyncIterator[Page]:
        """Yield pages from ``cursor`` (None: the start); each page carries its resume cursor."""
        ...

    async def parse_webhook(
        self, headers: Mapping[str, str], raw_body: bytes
    ) -> list[WebhookEvent]:
        """Verify a delivery over the raw bytes and return thin events; raises InvalidWebhook."""
        ...

    async def fetch(self, refs: Sequence[Ref]) -> list[Record]:
        """Read the current state of the given items (missing ones are left out)."""
        ...

    async def write(self, changes: Sequence[TagChange]) -> list[WriteOutcome]:
        """Apply owned-tag changes; one outcome per change, in order."""
        ...

    async def aclose(self) -> None:
        """Release what the instance holds (not the shared HTTP client)."""
        ...


ConnectorFactory = Callable[[Any, httpx.AsyncClient], Connector]


@dataclass(frozen=True)
class ConnectorSpec:
    """The entry point object of a connector distribution (group ``syncbridge.connectors``)."""

    key: str
    display_name: str
    kind: SystemKind
    settings_model: type[ConnectorSettings]
    capabilities: frozenset[Capability]
    #: ``factory(validated_settings, shared_http_client)`` -> one instance per connection.
    factory: ConnectorFactory
    #: Errors that mean "try again later" beyond the core's own transient errors.
    transient_errors: tuple[type[Exception], ...] = (TransientConnectorError,)
    #: Builds the vendor simulator: ``simulator(world, faults=FaultKnobs(...))`` returns an
    #: ASGI app. It may carry ``sandbox_info: Mapping[str, str]``, the settings a connection
    #: needs against it besides the base URL (sandbox credentials, account ids), which
    #: ``syncbridge sandbox serve`` prints.
    simulator: Callable[..., Any] | None = None
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


__all__ = [
    "Capability",
    "CheckResult",
    "Connector",
    "ConnectorFactory",
    "ConnectorSettings",
    "ConnectorSpec",
    "Page",
    "Record",
    "Ref",
    "StreamSpec",
    "SystemKind",
    "TagChange",
    "WebhookEvent",
    "WriteOutcome",
]
