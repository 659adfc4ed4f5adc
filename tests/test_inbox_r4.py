"""QUALITY R4 on ``POST /webhooks/...``: a 10 MiB body, declared or chunked, is refused with
413 without being read into memory, and nothing is stored; a body up to the cap reaches the
connector, which refuses what is no delivery with 401, never 413.

Bodies are streamed from an iterable that counts what the app pulled, one fresh chunk at a
time as a socket read gives them, so the heap measured around a request holds only what the
app kept (one small request first, so the app's one-off routing caches are not counted).
The declared case sends ``Content-Length`` over the same stream.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from syncbridge.settings import Settings
from tests.inbox_r3_support import Stored, outbound_secret, stored
from tests.inbox_support import Sandboxed, sandboxed_app

pytestmark = pytest.mark.embedded_worker(False)

MIB = 1024 * 1024
CHUNK = 64 * 1024
#: How much the heap may grow while a 10 MiB body is refused: far below the body.
HEAP_BOUND = 2 * MIB
NOTHING = Stored([], 0)


class StreamedBody:
    """``size`` bytes as an async stream of fresh chunks; ``pulled`` counts what was read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.size:
            chunk = b"x" * min(CHUNK, self.size - self.pulled)
            self.pulled += len(chunk)
            yield chunk


def webhook_url(world: Sandboxed, target: str) -> str:
    """The webhook URL of ``target``: a connector key, with its path secret for Salesforce."""
    if target == "salesforce":
        return world.webhook_url("salesforce", f"/{outbound_secret(world)}")
    return world.webhook_url(target)


async def send(world: Sandboxed, url: str, body: StreamedBody, *, declared: bool) -> httpx.Response:
    """POST ``body`` with ``Content-Length`` (``declared``) or chunked."""
    headers = {"Content-Type": "application/json"}
    if declared:
        headers["Content-Length"] = str(body.size)
    return await world.client.post(url, content=body, headers=headers)


FRAMING = [pytest.param(True, id="content-length"), pytest.param(False, id="chunked")]


@pytest.mark.parametrize("declared", FRAMING)
@pytest.mark.parametrize("target", ["hubspot", "salesforce"])
async def test_a_10_mib_body_is_refused_with_413_without_being_held(
    settings: Settings, tmp_path: Path, target: str, declared: bool
) -> None:
    async with sandboxed_app(settings, tmp_path / "dam") as world:
        cap = world.app.state.settings.webhook_max_body_bytes
        body = StreamedBody(10 * MIB)
        url = webhook_url(world, target)
        # The app's first request fills its routing caches: not the body's cost.
        assert (await send(world, url, StreamedBody(2), declared=True)).status_code == 401

        tracemalloc.start()
        try:
            answer = await send(world, url, body, declared=declared)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

        assert answer.status_code == 413, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert peak < HEAP_BOUND, f"the heap grew by {peak} bytes"
        if declared:
            assert body.pulled == 0  # refused on the header, nothing read
        else:
            assert body.pulled <= cap + CHUNK  # reading stopped at the cap
        assert await stored(world) == NOTHING


@pytest.mark.parametrize("declared", FRAMING)
@pytest.mark.parametrize("target", ["hubspot", "salesforce", "bynder", "cloudinary"])
async def test_a_body_just_under_the_cap_reaches_the_connector(
    settings: Settings, tmp_path: Path, target: str, declared: bool
) -> None:
    async with sandboxed_app(settings, tmp_path / "dam") as world:
        cap = world.app.state.settings.webhook_max_body_bytes
        body = StreamedBody(cap - 1)

        answer = await send(world, webhook_url(world, target), body, declared=declared)

        assert answer.status_code in (400, 401), answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert body.pulled == cap - 1
        assert await stored(world) == NOTHING


@pytest.mark.parametrize("declared", FRAMING)
@pytest.mark.parametrize(("over", "status"), [(0, 401), (1, 413)], ids=["at-cap", "one-over"])
async def test_the_cap_is_inclusive(
    settings: Settings, tmp_path: Path, over: int, status: int, declared: bool
) -> None:
    async with sandboxed_app(settings, tmp_path / "dam") as world:
        cap = world.app.state.settings.webhook_max_body_bytes
        body = StreamedBody(cap + over)

        answer = await send(world, world.webhook_url("hubspot"), body, declared=declared)

        assert answer.status_code == status, answer.text
        assert await stored(world) == NOTHING
