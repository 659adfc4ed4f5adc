"""What a connector distribution exports: its spec, its settings model and its instances."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol, Self, get_args, get_origin, runtime_checkable

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationInfo

from syncbridge.connector.errors import TransientConnectorError
from syncbridge.connector.presentation import ItemPresentation
from syncbridge.connector.types import (
    Capability,
    CheckResult,
    Page,
    Record,
    Ref,
    StreamSpec,
    SystemKind,
    TagChange,
    UploadReceipt,
    WebhookEvent,
    WriteOutcome,
)


class _CallsOut:
    """Marker: the field holds a URL syncbridge will call (see :data:`VendorUrl`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "CALLS_OUT"


#: Put in a field's ``Annotated`` metadata to have the URL it holds checked against SSRF
#: (loopback, private, link-local and metadata hosts refused unless the sandbox allows them)
#: whenever a connection is saved. The check follows the marker, not the field's name.
CALLS_OUT = _CallsOut()

#: A URL syncbridge calls: ``base_url: VendorUrl = "https://api.example.com"``.
VendorUrl = Annotated[str, CALLS_OUT]


@dataclass(frozen=True)
class HostPolicy:
    """What the host process lets connections use beyond their own settings.

    Passed to settings validation as pydantic's validation context (see
    :meth:`ConnectorSettings.validate_with`), so a validator can ask it (:meth:`of`) instead
    of consulting global state. The host builds it from its own settings: ``serve --sandbox``
    adds the sandbox's asset folder to ``sandbox_folders``.
    """

    #: Directories the sandbox wrote for file-based connectors; permitted as their roots.
    sandbox_folders: tuple[Path, ...] = ()

    @staticmethod
    def of(info: ValidationInfo) -> HostPolicy:
        """The policy a validation runs under (the empty policy when none was given)."""
        context = info.context
        return context if isinstance(context, HostPolicy) else HostPolicy()


class ConnectorSettings(BaseModel):
    """Base of every connector's settings model. Credentials are ``SecretStr`` fields;
    URLs the connector calls are :data:`VendorUrl` fields."""

    # NaN and infinities are refused in every connector's numbers: they pass "> 0" checks and
    # then break whatever uses them (timedelta, sleeps, rate budgets).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @classmethod
    def validate_with(cls, raw: Mapping[str, Any], policy: HostPolicy) -> Self:
        """Validate ``raw`` under the host's ``policy``."""
        return cls.model_validate(dict(raw), context=policy)

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
        """Names of the fields marked :data:`CALLS_OUT`: URLs syncbridge calls (SSRF-checked)."""
        return frozenset(
            name
            for name, info in cls.model_fields.items()
            if any(item is CALLS_OUT for item in info.metadata) or _marked(info.annotation)
        )


def _marked(annotation: Any) -> bool:
    """Whether ``annotation`` carries :data:`CALLS_OUT` anywhere (``VendorUrl | None``)."""
    if get_origin(annotation) is Annotated:
        if any(item is CALLS_OUT for item in get_args(annotation)[1:]):
            return True
    return any(_marked(arg) for arg in get_args(annotation))


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
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        *,
        url: str = "",
        method: str = "POST",
    ) -> list[WebhookEvent]:
        """Verify a delivery over the raw bytes and return thin events; raises InvalidWebhook
        when it fails verification (401), MalformedWebhook when it passed but cannot be read
        (400).

        ``url`` is the full URL the vendor called (scheme, host, path and query) as the public
        receiver sees it, and ``method`` its HTTP method: some schemes sign them (HubSpot v2
        and v3) or carry a per-connection secret in the path (Salesforce outbound messages).
        """
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


@runtime_checkable
class AcceptsUploads(Protocol):
    """A connector with the ``uploads`` capability: files are pushed to it, not pulled."""

    async def accept_upload(
        self, filename: str, chunks: AsyncIterator[bytes], max_bytes: int
    ) -> UploadReceipt:
        """Store the streamed file atomically (all of it or nothing) and say what it is.

        Raises a ``PermanentConnectorError`` whose ``status`` says why it was refused (a bad
        name or content, 413 past ``max_bytes``); nothing is left behind then.
        """
        ...


ConnectorFactory = Callable[[Any, httpx.AsyncClient], Connector]


@dataclass(frozen=True)
class ConnectorSpec:
    """The entry point object of a connector distribution (group ``syncbridge.connectors``).

    Its simulator or sample files are declared apart, as a ``SandboxSpec`` in the group
    ``syncbridge.sandboxes`` (``syncbridge.sandbox.spec``), so production never imports them.
    """

    key: str
    display_name: str
    kind: SystemKind
    settings_model: type[ConnectorSettings]
    capabilities: frozenset[Capability]
    #: ``factory(validated_settings, shared_http_client)`` -> one instance per connection.
    factory: ConnectorFactory
    #: Errors that mean "try again later" beyond the core's own transient errors.
    transient_errors: tuple[type[Exception], ...] = (TransientConnectorError,)
    description: str = ""
    #: How its items are named and found at the vendor (titles, file names, DAM URLs).
    presentation: ItemPresentation | None = None


__all__ = [
    "CALLS_OUT",
    "AcceptsUploads",
    "Capability",
    "CheckResult",
    "Connector",
    "ConnectorFactory",
    "ConnectorSettings",
    "ConnectorSpec",
    "HostPolicy",
    "ItemPresentation",
    "Page",
    "Record",
    "Ref",
    "StreamSpec",
    "SystemKind",
    "TagChange",
    "UploadReceipt",
    "VendorUrl",
    "WebhookEvent",
    "WriteOutcome",
]
