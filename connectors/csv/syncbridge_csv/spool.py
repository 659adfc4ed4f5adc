"""A validated file's rows, held on disk until they are read out in pages.

A file is parsed completely before any of its rows leaves the connector (a bad row refuses
the whole file), and rows are not kept in memory (a file may be larger than memory), so the
typed rows go to a private temporary SQLite database on disk, deleted when it is closed.
Its unique index on the external id also finds a duplicate key in constant memory.
Values go in as SQLite holds them natively (text, integer, real, null), so nothing is
encoded per row; booleans come back as integers and are turned back by the reader. The page
cache is capped (``CACHE_KIB``), so memory stays flat however large the file is.

This is scratch space of one read, not syncbridge's store: no SQLAlchemy, no schema beyond
one table, nothing outlives :meth:`Spool.close`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from syncbridge_csv.errors import CsvRowError
from syncbridge_csv.parse import Row

#: SQLite page cache of one spool, in KiB.
CACHE_KIB = 4096
#: (seq, external id, line, updated_at, the values in field order)
SpooledRow = tuple[int, str, int, str, list[Any]]


class Spool:
    """The typed rows of one file, in file order; ``seq`` counts them from 1.

    Values are stored in one column each, as SQLite holds them (text, integer, real, null):
    no encoding step per row. One thread at a time (calls come from worker threads one
    after another).
    """

    def __init__(self, file: str, key_columns: str, width: int) -> None:
        self.file = file
        self._key_columns = key_columns
        self._width = width
        # "" is a private on-disk database, removed when the connection closes.
        self._db = sqlite3.connect("", check_same_thread=False, isolation_level=None)
        self._db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute("PRAGMA temp_store = FILE")
        values = "".join(f", v{i}" for i in range(width))
        self._db.execute(
            "CREATE TABLE rows (seq INTEGER PRIMARY KEY, external_id TEXT NOT NULL UNIQUE, "
            f"line INTEGER NOT NULL, updated_at TEXT NOT NULL{values})"
        )
        marks = ", ?" * width
        self._insert = (
            f"INSERT INTO rows (external_id, line, updated_at{values}) VALUES (?, ?, ?{marks})"
        )
        self._columns = f"seq, external_id, line, updated_at{values}"
        self._db.execute("BEGIN")

    def add(self, rows: list[Row]) -> None:
        """Append a batch; raises :class:`CsvRowError` on a key already in the file."""
        try:
            self._db.executemany(
                self._insert, [(key, line, updated, *values) for key, line, updated, values in rows]
            )
        except sqlite3.IntegrityError:
            self._raise_duplicate(rows)

    def _raise_duplicate(self, batch: Iterable[Row]) -> None:
        # The batch went in up to the offending row: that row is the first whose id is
        # already stored under an earlier line.
        for external_id, line, _updated, _values in batch:
            found = self._db.execute(
                "SELECT line FROM rows WHERE external_id = ? AND line < ?", (external_id, line)
            ).fetchone()
            if found is not None:
                raise CsvRowError(
                    self.file,
                    line,
                    self._key_columns,
                    f"duplicate key {external_id!r}: the same as line {found[0]}",
                )
        raise AssertionError("a uniqueness failure without a duplicate")  # pragma: no cover

    def page(self, after: int, size: int) -> list[SpooledRow]:
        """Up to ``size`` rows with ``seq`` greater than ``after``, in file order."""
        cursor = self._db.execute(
            f"SELECT {self._columns} FROM rows WHERE seq > ? ORDER BY seq LIMIT ?", (after, size)
        )
        return [(row[0], row[1], row[2], row[3], list(row[4:])) for row in cursor]

    def select(self, external_ids: Iterable[str]) -> list[SpooledRow]:
        """The rows with these ids (missing ones left out), in file order."""
        wanted = list(dict.fromkeys(external_ids))
        found: list[SpooledRow] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            cursor = self._db.execute(
                f"SELECT {self._columns} FROM rows WHERE external_id IN ({marks})", chunk
            )
            found.extend((row[0], row[1], row[2], row[3], list(row[4:])) for row in cursor)
        return sorted(found, key=lambda row: row[0])

    def close(self) -> None:
        """Drop the rows and remove the database file."""
        self._db.close()
