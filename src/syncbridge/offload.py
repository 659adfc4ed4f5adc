"""CPU-heavy steps (parsing and validating imports, large compilations) run off the event
loop, in worker threads, a bounded number at a time, so health checks and other requests
keep answering while they run."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import TypeVar, TypeVarTuple, Unpack

import anyio
import anyio.to_thread

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

#: How many CPU-heavy steps run at once in one process; more wait their turn.
MAX_CONCURRENT = 2

# One limiter per event loop: a limiter's waiters belong to the loop they wait on.
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def _get_limiter() -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(MAX_CONCURRENT)
    return limiter


async def run_cpu(fn: Callable[[Unpack[Ts]], T], *args: *Ts) -> T:
    """``fn(*args)`` in a worker thread; at most :data:`MAX_CONCURRENT` at once."""
    return await anyio.to_thread.run_sync(fn, *args, limiter=_get_limiter())
