"""Changes in the sandbox vendors, announced to syncbridge by signed webhooks.

Each round changes one item in one simulator through the simulator's own change API, as a
person would in the vendor's UI (a HubSpot deal's amount, a Bynder or Cloudinary asset's
tags), has the simulator sign the delivery of that change for the connection's webhook URL,
and POSTs it to that same URL of the app (``POST /webhooks/{connection_id}``): the receiver
verifies it, commits it to the inbox, and the worker fetches and applies the change.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.logs import get_logger
from syncbridge.models import Connection
from syncbridge.sandbox.embedded import EmbeddedSandbox
from syncbridge.store.unit_of_work import in_unit_of_work

__all__ = ["Delivery", "WebhookEmitter"]

log = get_logger(__name__)
Sessionmaker = async_sessionmaker[AsyncSession]
#: A tag a person toggles on an asset (never a syncbridge-owned tag).
REVIEWED = "reviewed"


@dataclass(frozen=True)
class Delivery:
    """One change, its signed delivery, and the receiver's answer."""

    connector: str
    change: str
    url: str
    status: int
    answer: str


@dataclass(frozen=True)
class _Signed:
    change: str
    headers: dict[str, str]
    body: bytes


class WebhookEmitter:
    """Makes a change in a simulator and delivers its signed webhook, one vendor per round
    in turn (HubSpot, Bynder, Cloudinary: those whose simulators sign webhooks)."""

    def __init__(
        self, sandbox: EmbeddedSandbox, client: httpx.AsyncClient, webhook_base: str
    ) -> None:
        self.sandbox = sandbox
        self.client = client
        self.webhook_base = webhook_base.rstrip("/")
        self.connections: dict[str, uuid.UUID] = {}
        changes: dict[str, Callable[[int, str], _Signed]] = {
            "hubspot": self._hubspot,
            "bynder": self._bynder,
            "cloudinary": self._cloudinary,
        }
        self._changes = {k: v for k, v in changes.items() if k in sandbox.simulators}
        self._turns: Iterator[tuple[int, str]] = enumerate(itertools.cycle(self._changes))

    async def load_connections(self, sessionmaker: Sessionmaker) -> None:
        """Find the ``sandbox-<key>`` connection of each vendor (its webhook URL's id)."""

        async def read(session: AsyncSession) -> dict[str, uuid.UUID]:
            names = {f"sandbox-{key}": key for key in self._changes}
            rows = await session.execute(
                select(Connection.name, Connection.id).where(Connection.name.in_(names))
            )
            return {names[name]: cid for name, cid in rows}

        self.connections = await in_unit_of_work(sessionmaker, read, write=False)

    def url(self, connector: str) -> str:
        """The webhook URL registered for the vendor's connection (what it signs)."""
        return f"{self.webhook_base}/webhooks/{self.connections[connector]}"

    async def deliver_one(self) -> Delivery:
        """Change the next vendor's item and deliver the signed webhook of the change."""
        turn, connector = next(self._turns)
        url = self.url(connector)
        signed = self._changes[connector](turn, url)
        answer = await self.client.post(url, content=signed.body, headers=signed.headers)
        log.info("demo.webhook_delivered", connector=connector, status=answer.status_code)
        return Delivery(connector, signed.change, url, answer.status_code, answer.text)

    async def run_forever(self, every_s: float, on_delivery: Callable[[Delivery], Any]) -> None:
        """A delivery every ``every_s`` seconds until cancelled; a failed one is reported
        and the next round goes on."""
        while True:
            await asyncio.sleep(every_s)
            try:
                on_delivery(await self.deliver_one())
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                log.warning("demo.webhook_failed", error_type=type(exc).__name__, error=str(exc))

    # ----- one change per vendor ----------------------------------------------------------

    def _sim(self, key: str) -> Any:
        return self.sandbox.simulators[key]

    def _hubspot(self, turn: int, url: str) -> _Signed:
        sim = self._sim("hubspot")
        deals = sorted(sim.ids("deals"))
        deal = deals[turn % len(deals)]
        amount = str(1_000 * (turn % 97 + 3))
        sim.modify("deals", deal, {"amount": amount})
        delivery = sim.pending_delivery(url=url)
        headers, body, _url = delivery
        return _Signed(f"deal {deal}: amount set to {amount}", headers, body)

    def _bynder(self, turn: int, url: str) -> _Signed:  # noqa: ARG002 - SNS signs no URL
        sim = self._sim("bynder")
        media = sorted(sim.portal.media)
        media_id = media[turn % len(media)]
        tags = _toggled(list(sim.media(media_id).get("tags") or []))
        sim.edit_tags(media_id, tags)
        headers, body = sim.notification("asset_bank.media.updated", media_id)
        return _Signed(f"medium {media_id}: tags {', '.join(tags)}", headers, body)

    def _cloudinary(self, turn: int, url: str) -> _Signed:  # noqa: ARG002 - signs no URL
        sim = self._sim("cloudinary")
        resources = sorted(sim.store.by_asset_id.values(), key=lambda r: r.asset_id)
        resource = resources[turn % len(resources)]
        tags = _toggled(list(resource.tags))
        sim.set_tags(resource.asset_id, tags)
        headers, body = sim.notification(
            "resource_tags_changed", resource.public_id, resource_type=resource.resource_type
        )
        return _Signed(f"{resource.public_id}: tags {', '.join(tags)}", headers, body)


def _toggled(tags: list[str]) -> list[str]:
    """``tags`` with the person's ``reviewed`` tag added, or taken off when it was there."""
    return [t for t in tags if t != REVIEWED] if REVIEWED in tags else [*tags, REVIEWED]
