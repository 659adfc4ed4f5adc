"""Ending asyncio tasks that are no longer wanted."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait until each has ended, dropping what they returned or raised.

    A cancel of the caller itself is not swallowed: when the caller is being cancelled (it is
    cleaning up after one, or one arrives while it waits), ``CancelledError`` is raised once
    every task has ended.
    """
    pending = list(tasks)
    for task in pending:
        task.cancel()
    caller_cancelled = False
    for task in pending:
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            caller_cancelled = caller_cancelled or bool(current and current.cancelling())
        except Exception:  # the task is unwanted: its failure is dropped
            pass
    if caller_cancelled:
        raise asyncio.CancelledError
