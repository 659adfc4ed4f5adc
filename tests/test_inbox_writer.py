"""The inbox's group commit on both stores: a batch one delivery spoils is written delivery
by delivery, a request gone meanwhile costs the others nothing, a batch's bodies are capped in
bytes, and values a store cannot keep as sent are kept alike by both."""

from __future__ import annotations

import asyncio
import enum
import json
import math
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from structlog.testing import capture_logs

from syncbridge.connector.metrics import registry
from syncbridge.connector.types import WebhookEvent
from syncbridge.db import open_store
from syncbridge.inbox import receiver
from syncbridge.inbox.receiver import InboxWriter, StoreUnavailable, event_rows
from syncbridge.models import InboxEvent
from syncbridge.models.store import EXTERNAL_ID_LENGTH
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.inbox_support import add_connection, running
from tests.jobs_support import finished
from tests.plugins_connections import deliver_echo, echo_installed, echo_settings

DELAY_S = 30.0
SECRET = "echo-webhook-secret-for-tests"


def _event(key: str, **payload: Any) -> WebhookEvent:
    return WebhookEvent(delivery_key=key, stream="deals", external_id=key, action="updated",
                        payload=payload)  # fmt: skip


def _batches() -> float:
    return registry.get_sample_value("syncbridge_webhook_commit_batch_size_count") or 0.0


async def test_a_batch_one_delivery_spoils_is_written_delivery_by_delivery(db_url: str) -> None:
    """The store refuses one delivery's values (here: events of a connection deleted
    meanwhile): that delivery alone is refused (503, the vendor retries); the deliveries
    committed with it in one batch are written."""
    async with open_store(db_url) as sessionmaker:
        connection_id = await add_connection(sessionmaker)
        writer = InboxWriter(sessionmaker, debounce_s=DELAY_S)
        async with running(writer):
            with capture_logs() as logs:
                answers = await asyncio.gather(
                    writer.write(event_rows(connection_id, [_event("a")])),
                    writer.write(event_rows(uuid.uuid4(), [_event("b")])),
                    writer.write(event_rows(connection_id, [_event("c"), _event("d")])),
                    return_exceptions=True,
                )
        assert answers[0] == 1
        assert answers[2] == 2
        assert isinstance(answers[1], StoreUnavailable)
        splits = [e for e in logs if e["event"] == "webhook.inbox_batch_split"]
        assert [e["deliveries"] for e in splits] == [3], "the three shared one batch"

        async def keys(session: AsyncSession) -> list[str]:
            return sorted(await session.scalars(select(InboxEvent.delivery_key)))

        assert await in_unit_of_work(sessionmaker, keys, write=False) == ["a", "c", "d"]


async def test_a_request_gone_meanwhile_costs_the_others_nothing(db_url: str) -> None:
    """A delivery whose request is cancelled while it waits for the commit (the vendor hung
    up) leaves the batch and the writer as they were: the others are answered and the next
    delivery is written."""
    async with open_store(db_url) as sessionmaker:
        connection_id = await add_connection(sessionmaker)
        writer = InboxWriter(sessionmaker, debounce_s=DELAY_S)
        async with running(writer):
            gone = asyncio.ensure_future(writer.write(event_rows(connection_id, [_event("a")])))
            kept = asyncio.ensure_future(writer.write(event_rows(connection_id, [_event("b")])))
            await asyncio.sleep(0)  # both are waiting
            gone.cancel()
            assert await finished(kept) == 1
            assert gone.cancelled()
            assert await finished(writer.write(event_rows(connection_id, [_event("c")]))) == 1


async def test_a_batch_is_capped_in_body_bytes(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deliveries waiting together are committed in batches of at most ``MAX_BATCH_BYTES``
    of bodies (a delivery larger than that alone)."""
    monkeypatch.setattr(receiver, "MAX_BATCH_BYTES", 25)
    async with open_store(db_url) as sessionmaker:
        connection_id = await add_connection(sessionmaker)
        writer = InboxWriter(sessionmaker, debounce_s=DELAY_S)
        async with running(writer):
            before = _batches()
            sizes = [10, 10, 10, 30, 5, 20]
            answers = await asyncio.gather(
                *(
                    writer.write(event_rows(connection_id, [_event(f"k{n}")]), size=size)
                    for n, size in enumerate(sizes)
                )
            )
        assert answers == [1] * len(sizes)
        # [10, 10] [10] [30] [5, 20]
        assert _batches() - before == 4


class _Int(int):
    pass


class _Str(str):
    __slots__ = ()


class _Float(float):
    def __repr__(self) -> str:
        return "a float of its own"


class Level(enum.IntEnum):
    HIGH = 3


def test_vendor_values_are_made_what_every_store_keeps() -> None:
    """NUL characters (PostgreSQL refuses them, SQLite keeps them) and lone surrogates (no
    encoder takes them) become U+FFFD, non-finite numbers text, vendor times UTC."""
    event = WebhookEvent(
        delivery_key="k\ufffd",
        stream="deals",
        external_id="id\x00\ud800",
        action="updated",
        occurred_at=datetime(2026, 12, 1, 9, 30, 7, tzinfo=timezone(timedelta(hours=5, minutes=30,
                                                                              seconds=7))),
        payload={
            "a\x00": "x\x00y",
            "surrogate": "\ud800é",
            "numbers": [math.nan, math.inf, -math.inf, 1.5, 2**70, True, None],
            "nested": {"n": math.nan, "s": "\x00"},
            "kept": "plain",
            "in a list": [{"a": [1, {"b": math.inf}]}, [2, "\x00"], ()],
            "subclasses": [_Int(7), _Str("s"), _Float(0.5), _Float(math.nan), Level.HIGH],
        },
    )  # fmt: skip
    [row] = event_rows(uuid.uuid4(), [event])
    assert (row["delivery_key"], row["external_id"]) == ("k\ufffd", "id\ufffd\ufffd")
    assert row["payload"] == {
        "a\ufffd": "x\ufffdy",
        "surrogate": "\ufffdé",
        "numbers": ["NaN", "Infinity", "-Infinity", 1.5, 2**70, True, None],
        "nested": {"n": "NaN", "s": "\ufffd"},
        "kept": "plain",
        "in a list": [{"a": [1, {"b": "Infinity"}]}, [2, "\ufffd"], []],
        "subclasses": [7, "s", 0.5, "NaN", 3],
    }
    plain = row["payload"]["subclasses"]
    assert [type(v) for v in plain] == [int, str, float, str, int]
    # A key a store cannot keep is stored as its hash: two such keys stay two.
    keys = [
        r["delivery_key"]
        for r in event_rows(uuid.uuid4(), [_event("a\x00"), _event("a\ufffd"), _event("a\ud800")])
    ]
    assert keys[1] == "a\ufffd"
    assert keys[0].startswith("sha256:")
    assert keys[2].startswith("sha256:")
    assert len(set(keys)) == 3
    assert row["occurred_at"] == datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
    assert row["occurred_at"].tzinfo is UTC
    naive = WebhookEvent("n", "deals", "n", "updated", datetime(2026, 12, 1, 9, 30))
    [row] = event_rows(uuid.uuid4(), [naive])
    assert row["occurred_at"] == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


async def test_a_delivery_with_values_a_store_refuses_is_kept(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, admin: dict[str, str]
) -> None:
    """Through the receiver, on either store: a verified delivery whose JSON holds a NUL, a
    lone surrogate and NaN is stored (200), the same on both stores, instead of being refused
    for ever (the vendor would retry it, spoiling each batch it joins)."""
    async with echo_installed(app):
        body = {"connector": "echo", "name": "vendor-x",
                "settings": echo_settings(webhook_secret=SECRET)}  # fmt: skip
        created = await client.post("/v1/connections", json=body, headers=admin)
        assert created.status_code == 201, created.text
        events = [{"key": "k-1", "stream": "media", "id": "asset-1", "action": "updated",
                   "payload": {"note": "a\u0000b", "odd": "\ud800", "n": math.nan}}]  # fmt: skip
        # On the wire: JSON escapes that standard decoders take (``NaN`` too).
        assert all(e in json.dumps(events) for e in ("\\u0000", "\\ud800", "NaN"))
        answer = await deliver_echo(client, created.json()["id"], events, SECRET)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"received": 1, "new": 1}
        [stored] = list(await session.scalars(select(InboxEvent)))
        assert stored.payload == {"note": "a\ufffdb", "odd": "\ufffd", "n": "NaN"}


async def test_an_event_the_inbox_cannot_hold_is_a_malformed_delivery(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, admin: dict[str, str]
) -> None:
    """An object id longer than the inbox's column (a defect at the sender or its connector)
    gets 400 and is counted as malformed, on either store, instead of being kept by one and
    refused by the other at every redelivery."""
    async with echo_installed(app):
        body = {"connector": "echo", "name": "vendor-x",
                "settings": echo_settings(webhook_secret=SECRET)}  # fmt: skip
        created = await client.post("/v1/connections", json=body, headers=admin)
        assert created.status_code == 201, created.text
        before = _rejected("malformed")
        for external_id, status in (("x" * EXTERNAL_ID_LENGTH, 200), ("y" * 501, 400)):
            events = [{"key": external_id[:10], "stream": "media", "id": external_id,
                       "action": "updated", "payload": {}}]  # fmt: skip
            answer = await deliver_echo(client, created.json()["id"], events, SECRET)
            assert answer.status_code == status, answer.text
        assert _rejected("malformed") - before == 1
        stored = list(await session.scalars(select(InboxEvent.external_id)))
        assert stored == ["x" * EXTERNAL_ID_LENGTH]


def _rejected(reason: str) -> float:
    sample = registry.get_sample_value(
        "syncbridge_webhook_deliveries_rejected_total", {"connector": "echo", "reason": reason}
    )
    return sample or 0.0
