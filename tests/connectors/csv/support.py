"""Helpers for the CSV connector's tests: a folder per test, stream declarations, reads."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from syncbridge_csv import CsvConnector, CsvRowError, spec

from syncbridge.connector.spec import HostPolicy
from syncbridge.connector.testing import ids_of, read_all
from syncbridge.connector.types import Page, Record

#: A small export: date, asset, views, revenue.
HEADER = "Date,Asset,Views,Revenue\r\n"


def columns(**overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The column map of the small export, with some columns' declarations replaced."""
    declared: dict[str, Any] = {
        "Date": {"field": "date", "type": "date", "format": "%Y-%m-%d"},
        "Asset": {"field": "asset"},
        "Views": {"field": "views", "type": "integer", "required": True},
        "Revenue": {"field": "revenue", "type": "decimal"},
    }
    declared.update(overrides)
    return declared


def stream(**overrides: Any) -> dict[str, Any]:
    """A stream of the small export, files ``*.csv``, keyed by date and asset."""
    return {
        "pattern": ["*.csv"],
        "primary_key": ["date", "asset"],
        "columns": columns(),
        **overrides,
    }


def settings(root: Path, **overrides: Any) -> Any:
    """Validated settings of a connection to ``root`` with one stream ``exports``."""
    raw = {"root": str(root), "streams": {"exports": stream()}, **overrides}
    return spec.settings_model.validate_with(raw, HostPolicy())


def connector(root: Path, **overrides: Any) -> CsvConnector:
    """A connector on ``root`` (settings overrides as in :func:`settings`)."""
    made = spec.factory(settings(root, **overrides), None)  # type: ignore[arg-type]
    assert isinstance(made, CsvConnector)
    return made


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` in ``encoding`` (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def rows(*lines: str) -> str:
    """The small export's header and ``lines``, CRLF-terminated."""
    return HEADER + "".join(f"{line}\r\n" for line in lines)


async def records(
    made: CsvConnector, name: str = "exports", cursor: str | None = None
) -> list[Record]:
    """Every record of one read."""
    return [r for p in await read_all(made, name, cursor) for r in p.records]


async def refusal(
    made: CsvConnector, name: str = "exports", cursor: str | None = None
) -> tuple[CsvRowError, list[Record]]:
    """The error a read ends with, and the records it yielded before it."""
    seen: list[Record] = []

    async def drain() -> None:
        async for page in made.read(name, cursor):
            seen.extend(page.records)

    with pytest.raises(CsvRowError) as caught:
        await drain()
    return caught.value, seen


async def pages(made: CsvConnector, name: str = "exports", cursor: str | None = None) -> list[Page]:
    """Every page of one read."""
    return await read_all(made, name, cursor)


__all__ = [
    "HEADER",
    "columns",
    "connector",
    "ids_of",
    "pages",
    "records",
    "refusal",
    "rows",
    "settings",
    "stream",
    "write",
]
