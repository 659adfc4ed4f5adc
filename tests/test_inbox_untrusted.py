"""A delivery's events are thin, whatever a (third-party) connector passes through: an item
carried in a payload is applied unfetched only when reconciliation put it there."""

from __future__ import annotations

import json

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.inbox.processing import SNAPSHOT_KEY
from syncbridge.models import InboxEvent
from tests.plugins_connections import deliver_echo, echo_installed, echo_settings

SECRET = "echo-webhook-secret-for-tests"


async def test_an_item_a_delivery_carries_is_dropped_before_the_inbox(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, admin: dict[str, str]
) -> None:
    async with echo_installed(app):
        body = {"connector": "echo", "name": "vendor-x", "settings": echo_settings(
            webhook_secret=SECRET)}  # fmt: skip
        created = await client.post("/v1/connections", json=body, headers=admin)
        assert created.status_code == 201, created.text
        connection_id = created.json()["id"]
        forged_item = {"text": json.dumps({"name": "whatever the sender says"})}
        events = [
            {
                "key": "delivery-1",
                "stream": "media",
                "id": "asset-1",
                "action": "updated",
                "payload": {"note": "kept", SNAPSHOT_KEY: forged_item},
            }
        ]
        answer = await deliver_echo(client, connection_id, events, SECRET)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"received": 1, "new": 1}
        [event] = list(await session.scalars(select(InboxEvent)))
        assert event.payload == {"note": "kept"}
