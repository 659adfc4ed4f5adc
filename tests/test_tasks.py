"""``cancel_and_wait``: unwanted tasks end, and a cancel of the caller is never swallowed."""

from __future__ import annotations

import asyncio

import pytest

from syncbridge.tasks import cancel_and_wait


async def _forever() -> None:
    await asyncio.Event().wait()


async def _fails() -> None:
    raise RuntimeError("unwanted anyway")


async def test_tasks_are_cancelled_and_awaited_and_their_outcomes_dropped() -> None:
    sleeping, failing = asyncio.create_task(_forever()), asyncio.create_task(_fails())
    await asyncio.sleep(0)
    await cancel_and_wait([sleeping, failing])
    assert sleeping.cancelled()
    assert failing.done()


async def test_a_cancel_of_the_caller_while_it_waits_is_not_swallowed() -> None:
    async def slow_to_end() -> None:
        try:
            await _forever()
        except asyncio.CancelledError:
            await asyncio.sleep(0.05)  # its own clean-up takes a while
            raise

    helper = asyncio.create_task(slow_to_end())
    went_on = asyncio.Event()

    async def caller() -> None:
        await cancel_and_wait([helper])
        went_on.set()

    await asyncio.sleep(0)
    task = asyncio.create_task(caller())
    await asyncio.sleep(0.01)  # the caller waits for the helper to end
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not went_on.is_set()
