"""Large files stream: reading a ~50 MB export does not grow memory with the file.

The read runs in a fresh interpreter so that its peak resident size belongs to it alone:
the peak resident size (``VmHWM``) minus the resident size before a first read bounds the
whole process (SQLite's spool and the C buffers included); ``tracemalloc`` bounds the
Python heap over a second read. Holding the file's rows would cost more than its size.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FILE_BYTES = 50 * 1024 * 1024
#: Growth allowed while reading: a page of records, the read buffers, the spool's cache.
HEAP_BOUND = 16 * 1024 * 1024
RSS_BOUND = 40 * 1024 * 1024

_READER = """
import asyncio, json, sys, tracemalloc
from syncbridge_csv import spec
from syncbridge.connector.spec import HostPolicy

settings = spec.settings_model.validate_with(json.loads(sys.argv[1]), HostPolicy())
connector = spec.factory(settings, None)

def status(field):
    with open("/proc/self/status") as lines:
        line = next(line for line in lines if line.startswith(field + ":"))
    return int(line.split()[1]) * 1024

async def read():
    rows = last = 0
    async for page in connector.read("exports", None):
        rows += len(page.records)
        if page.records:
            last = page.records[-1].data["views"]
    return rows, last

async def main():
    # Not ru_maxrss: Linux carries the parent's peak over fork and exec into it.
    before = status("VmRSS")
    rows, last = await read()
    rss = status("VmHWM") - before
    # Traced apart: tracemalloc's own bookkeeping would swell the resident size.
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    await read()
    heap = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    print(json.dumps({"rows": rows, "last": last, "heap": heap, "rss": rss}))

asyncio.run(main())
"""


def _write_large_export(path: Path) -> int:
    """About ``FILE_BYTES`` of rows of about 4 KiB; the number of rows."""
    note = "a long free-text note, as CRM exports carry them, repeated; " * 64
    count = size = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("Date,Asset,Views,Revenue,Note\r\n")
        while size < FILE_BYTES:
            line = f'2026-11-{1 + count % 28:02d},asset-{count:08d},{count},{count}.50,"{note}"\r\n'
            handle.write(line)
            size += len(line)
            count += 1
    return count


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
def test_reading_a_50_mb_file_keeps_memory_flat(root: Path) -> None:
    rows = _write_large_export(root / "large.csv")
    settings = {
        "root": str(root),
        "page_size": 500,
        "streams": {
            "exports": {
                "pattern": ["*.csv"],
                "primary_key": ["asset"],
                "columns": {
                    "Date": {"field": "date", "type": "date", "format": "%Y-%m-%d"},
                    "Asset": {"field": "asset"},
                    "Views": {"field": "views", "type": "integer"},
                    "Revenue": {"field": "revenue", "type": "decimal"},
                    "Note": {"field": "note"},
                },
            }
        },
    }
    done = subprocess.run(
        [sys.executable, "-c", _READER, json.dumps(settings)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["rows"] == rows
    assert measured["last"] == rows - 1
    assert measured["heap"] < HEAP_BOUND, measured
    assert measured["rss"] < RSS_BOUND, measured
