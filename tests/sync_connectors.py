"""A small real connector for the sync tests: streams that loop, or carry bad records.

It is registered in-process (``shapes_registry``), as a plugin would be through its entry
point; the sync engine cannot tell it from a vendor connector.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from syncbridge.connector.errors import PermanentConnectorError
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.connector.spec import ConnectorSettings, ConnectorSpec
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

KEY = "shapes"
#: A read that never stops by itself still ends here, so a missed loop fails a test, not CI.
PAGE_LIMIT = 200
BIG = 1_000_001
WHEN = datetime.fromisoformat("2026-11-30T12:00:00+00:00")


class ShapesSettings(ConnectorSettings):
    label: str = "shapes"


def _records(stream: str, ids: Sequence[str]) -> list[Record]:
    return [Record(stream, i, {"id": i, "n": len(i)}) for i in ids]


class ShapesConnector:
    """Streams: ``repeating`` (the same page forever, new cursors), ``stuck`` (new items,
    one cursor forever), ``mixed`` (good and bad records), ``fine`` (two plain pages)."""

    def __init__(self, settings: ShapesSettings, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.client = client

    async def check(self) -> CheckResult:
        return CheckResult(ok=True, detail="shapes")

    def streams(self) -> Sequence[StreamSpec]:
        return [StreamSpec(n, primary_key="id") for n in ("repeating", "stuck", "mixed", "fine")]

    def read(self, stream: str, cursor: str | None) -> AsyncIterator[Page]:
        readers = {
            "repeating": self._repeating,
            "stuck": self._stuck,
            "mixed": self._mixed,
        }
        if stream == "fine":
            return self._fine(cursor)
        if stream not in readers:
            raise PermanentConnectorError(f"shapes has no stream {stream!r}")
        return readers[stream]()

    async def _repeating(self) -> AsyncIterator[Page]:
        for n in range(PAGE_LIMIT):
            yield Page(_records("repeating", ["a", "b"]), f"page-{n}")
        yield Page([], None)

    async def _stuck(self) -> AsyncIterator[Page]:
        for n in range(PAGE_LIMIT):
            yield Page(_records("stuck", [f"s{n}"]), "the-same-cursor")
        yield Page([], None)

    async def _mixed(self) -> AsyncIterator[Page]:
        good = [
            Record("mixed", "plain", {"id": "plain"}),
            Record(
                "mixed",
                "typed",
                {"amount": Decimal("12.50"), "at": WHEN, "day": WHEN.date()},
                updated_at=WHEN,
            ),
        ]
        bad = [
            Record("mixed", "", {"id": ""}),
            Record("mixed", "x" * 501, {}),
            Record("mixed", "not-json", {"value": object()}),
            Record("mixed", "nan", {"value": math.nan}),
            Record("mixed", "huge", {"blob": "x" * BIG}),
            Record("mixed", "naive", {}, updated_at=datetime(2026, 1, 1)),
        ]
        yield Page([good[0], *bad[:3]], "half")
        yield Page([*bad[3:], good[1]], None)

    async def _fine(self, cursor: str | None) -> AsyncIterator[Page]:
        if cursor is None:
            yield Page(_records("fine", ["f1", "f2"]), "1")
        yield Page(_records("fine", ["f3"]), None)

    async def parse_webhook(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        *,
        url: str = "",
        method: str = "POST",
    ) -> list[WebhookEvent]:
        del headers, raw_body, url, method  # the protocol's signature; no webhooks here
        return []

    async def fetch(self, refs: Sequence[Ref]) -> list[Record]:  # noqa: ARG002
        return []

    async def write(self, changes: Sequence[TagChange]) -> list[WriteOutcome]:  # noqa: ARG002
        return []

    async def aclose(self) -> None:
        return None


def _factory(settings: Any, client: httpx.AsyncClient) -> ShapesConnector:
    return ShapesConnector(settings, client)


SPEC = ConnectorSpec(
    key=KEY,
    display_name="Shapes (tests)",
    kind=SystemKind.crm,
    settings_model=ShapesSettings,
    capabilities=frozenset({Capability.read}),
    factory=_factory,
)


def shapes_registry() -> ConnectorRegistry:
    """The installed connectors plus ``shapes``."""
    registry = ConnectorRegistry.from_entry_points()
    registry.register(SPEC)
    return registry
