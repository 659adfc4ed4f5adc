"""The timing loop the simulator read benchmarks share: full reads, records/s, the median."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Coroutine
from typing import Any

#: Records/s a simulator must serve at 100,000 assets (issue 7, item 7).
TARGET = 10_000


def report_runs(read_all: Callable[[], Coroutine[Any, Any, int]], expected: int, runs: int) -> None:
    """Run ``read_all`` (one full read, returning the records read) ``runs`` times, check it
    read ``expected`` records, and print each run's records/s and their median against
    ``TARGET``."""
    rates = []
    for run in range(1, runs + 1):
        started = time.perf_counter()
        read = asyncio.run(read_all())
        elapsed = time.perf_counter() - started
        assert read == expected, f"read {read} of {expected}"
        rate = read / elapsed
        rates.append(rate)
        print(f"run {run}: {read:,} records in {elapsed:.2f} s = {rate:,.0f} records/s")  # noqa: T201
    median = statistics.median(rates)
    verdict = "ok" if median >= TARGET else "MISSED"
    print(f"median {median:,.0f} records/s (target >= {TARGET:,}: {verdict})")  # noqa: T201
