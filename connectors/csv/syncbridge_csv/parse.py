"""Reading one CSV export strictly: header, typed cells, external ids, content hash.

``parse_export`` streams a file once (chunked reads, one row at a time: memory does not
grow with the file) and hands each batch of typed rows to a sink. Any bad place raises
:class:`CsvRowError` naming the file, line, column and reason; the caller keeps what the
sink received only when the whole file parsed (see :mod:`syncbridge_csv.spool`).

Lines are physical lines, 1-based, the header being line 1; a row is reported by the line
it starts on (a quoted value may span lines). Blank lines are skipped. Header cells are
compared without surrounding spaces; cell values are taken exactly as written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from syncbridge.connector.errors import TransientConnectorError
from syncbridge_csv.encoding import detect, locate_decode_error
from syncbridge_csv.errors import CsvRowError
from syncbridge_csv.settings import AUTO_DELIMITERS, StreamSettings
from syncbridge_csv.values import Converter, converter_for, key_text

#: A typed row: external id, start line, ``updated_at`` (ISO 8601) and its values in the
#: order of :attr:`StreamPlan.fields`.
Row = tuple[str, int, str, list[Any]]
RowSink = Callable[[list[Row]], None]
BATCH_ROWS = 1000
READ_BUFFER = 1024 * 1024
#: Header names listed at most in a "missing column" reason.
_LISTED_HEADERS = 20


@dataclass(frozen=True)
class FileFacts:
    """What a complete, valid parse of one file found."""

    path: str
    size: int
    mtime_ns: int
    ctime_ns: int
    sha256: str
    encoding: str
    delimiter: str
    rows: int


@dataclass(frozen=True)
class _Cell:
    index: int
    source: str
    field: str
    convert: Converter
    required: bool


class StreamPlan:
    """A stream's settings compiled once: converters per declared column."""

    def __init__(self, name: str, settings: StreamSettings, max_row_chars: int) -> None:
        self.name = name
        self.settings = settings
        self.max_row_chars = max_row_chars
        keys = set(settings.primary_key)
        self.converters = {src: converter_for(column) for src, column in settings.columns.items()}
        self.required = {
            src: column.required or column.field in keys for src, column in settings.columns.items()
        }
        self.key_fields = tuple(settings.primary_key)
        #: The record fields, in declaration order (the order of a :data:`Row`'s values).
        self.fields = tuple(column.field for column in settings.columns.values())
        self.booleans = frozenset(
            column.field for column in settings.columns.values() if column.type == "boolean"
        )
        updated = settings.updated_at_field
        self.updated_type = next(
            (c.type for c in settings.columns.values() if c.field == updated), None
        )

    def cells(self, header: Sequence[str], file: str) -> list[_Cell]:
        """The declared columns at their header positions; refuses a header that does not
        match the declaration (missing, doubled or undeclared columns)."""
        names = [name.strip() for name in header]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise CsvRowError(file, 1, name, "the header names this column twice")
            seen.add(name)
        declared = self.settings.columns
        for source in declared:
            if source not in seen:
                found = ", ".join(repr(n) for n in names[:_LISTED_HEADERS])
                more = ", ..." if len(names) > _LISTED_HEADERS else ""
                raise CsvRowError(
                    file, 1, source, f"missing from the header (it has {found}{more})"
                )
        if self.settings.extra_columns == "refuse":
            for name in names:
                if name not in declared:
                    raise CsvRowError(
                        file,
                        1,
                        name,
                        "not a declared column (declare it, or set the stream's "
                        "extra_columns to 'ignore')",
                    )
        return [
            _Cell(i, name, declared[name].field, self.converters[name], self.required[name])
            for i, name in enumerate(names)
            if name in declared
        ]

    def choose_delimiter(self, first_line: str) -> str:
        """The declared delimiter, or the candidate splitting the header into the most
        declared columns (ties: the earlier in ``, ; TAB |``)."""
        if self.settings.delimiter != "auto":
            return self.settings.delimiter
        declared = self.settings.columns
        best, best_score = AUTO_DELIMITERS[0], 0
        for candidate in AUTO_DELIMITERS:
            try:
                cells = next(csv.reader([first_line], delimiter=candidate), [])
            except csv.Error:
                continue
            score = sum(1 for cell in cells if cell.strip() in declared)
            if score > best_score:
                best, best_score = candidate, score
        return best


class _HashingReader(io.RawIOBase):
    """A raw stream that feeds every byte read through a digest."""

    def __init__(self, raw: io.FileIO) -> None:
        self._raw = raw
        self.digest = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        n = self._raw.readinto(buffer)
        if n:
            self.digest.update(memoryview(buffer)[:n])
            self.count += n
        return n


class _RowBudget:
    """Physical lines of a file, refusing a row longer than ``limit`` characters."""

    def __init__(self, text: io.TextIOBase, limit: int) -> None:
        self._text = text
        self._limit = limit
        self.used = 0

    def lines(self) -> Iterator[str]:
        for line in self._text:
            self.used += len(line)
            if self.used > self._limit:
                raise _RowTooLong
            yield line


class _RowTooLong(Exception):
    pass


def parse_export(
    root: Path,
    relative: str,
    plan: StreamPlan,
    sink: RowSink,
    *,
    shown_as: str | None = None,
    batch: int = BATCH_ROWS,
) -> FileFacts:
    """Parse ``root/relative`` completely, handing typed rows to ``sink`` in batches.

    Errors and facts name the file ``shown_as`` (default: ``relative``). Raises
    :class:`CsvRowError` at the first bad place (rows already handed over must then be
    dropped), ``FileNotFoundError`` when the file is gone or is no regular file any more,
    and ``TransientConnectorError`` when the file changed while it was read.
    """
    fd = os.open(root / relative, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    relative = shown_as or relative
    with os.fdopen(fd, "rb", buffering=0) as raw:
        assert isinstance(raw, io.FileIO)
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise FileNotFoundError(relative)
        encoding = detect(raw, plan.settings.encoding, relative)
        hashing = _HashingReader(raw)
        buffered = io.BufferedReader(hashing, buffer_size=READ_BUFFER)
        text = io.TextIOWrapper(buffered, encoding=encoding.codec, errors="strict", newline="")
        try:
            delimiter, rows = _parse_rows(text, relative, plan, before, sink, batch)
        except UnicodeDecodeError:
            line, reason = locate_decode_error(raw, encoding.codec)
            raise CsvRowError(relative, line, None, f"{reason} ({encoding.name})") from None
        after = os.fstat(fd)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or (
        hashing.count != after.st_size
    ):
        raise TransientConnectorError(f"{relative} changed while it was read; read it again")
    return FileFacts(
        path=relative,
        size=before.st_size,
        mtime_ns=before.st_mtime_ns,
        ctime_ns=before.st_ctime_ns,
        sha256=hashing.digest.hexdigest(),
        encoding=encoding.name,
        delimiter=delimiter,
        rows=rows,
    )


def _parse_rows(
    text: io.TextIOWrapper,
    file: str,
    plan: StreamPlan,
    info: os.stat_result,
    sink: RowSink,
    batch: int,
) -> tuple[str, int]:
    budget = _RowBudget(text, plan.max_row_chars)
    lines = budget.lines()
    start = 1
    try:
        first = next(lines, None)
        if first is None:
            raise CsvRowError(file, 1, None, "the file is empty: no header row")
        first = first.removeprefix("\ufeff")
        delimiter = plan.choose_delimiter(first)
        reader = csv.reader(itertools.chain([first], lines), delimiter=delimiter, strict=True)
        header = next(reader)
        typer = _RowTyper(plan, plan.cells(header, file), file, _file_time(info.st_mtime_ns))
        start = reader.line_num + 1
        budget.used = 0
        rows = 0
        pending: list[Row] = []
        for cells in reader:
            line, start = start, reader.line_num + 1
            budget.used = 0
            if not cells:
                continue  # a blank line
            pending.append(typer.row(cells, line))
            if len(pending) >= batch:
                sink(pending)
                rows += len(pending)
                pending = []
    except csv.Error as exc:
        raise CsvRowError(file, start, None, f"malformed CSV: {exc}") from None
    except _RowTooLong:
        raise CsvRowError(
            file, start, None, f"the row is longer than {plan.max_row_chars} characters"
        ) from None
    if pending:
        sink(pending)
        rows += len(pending)
    return delimiter, rows


class _RowTyper:
    """One file's rows to typed values, by the header's column positions."""

    def __init__(self, plan: StreamPlan, cells: list[_Cell], file: str, fallback: str) -> None:
        slots = {field: i for i, field in enumerate(plan.fields)}
        self.cells = [(c.index, slots[c.field], c.convert, c.required, c.source) for c in cells]
        self.width = len(cells)
        self.exact = plan.settings.extra_columns == "refuse"
        self.key_slots = [slots[field] for field in plan.key_fields]
        updated = plan.settings.updated_at_field
        self.updated_slot = slots[updated] if updated is not None else None
        self.updated_is_date = plan.updated_type == "date"
        self.fallback = fallback
        self.file = file
        self.size = len(plan.fields)

    def row(self, cells: list[str], line: int) -> Row:
        """The typed row of a record's cells; raises :class:`CsvRowError`."""
        if len(cells) != self.width and (self.exact or len(cells) < self.width):
            raise CsvRowError(self.file, line, None, f"the row has {len(cells)} cells")
        values: list[Any] = [None] * self.size
        for index, slot, convert, required, source in self.cells:
            if index >= len(cells):
                raise CsvRowError(self.file, line, source, "the row ends before this column")
            raw = cells[index]
            if raw == "":
                if required:
                    raise CsvRowError(self.file, line, source, "a value is required")
                continue
            try:
                values[slot] = convert(raw)
            except ValueError as exc:
                raise CsvRowError(self.file, line, source, str(exc)) from None
        return self._external_id(values), line, self._updated(values), values

    def _external_id(self, values: list[Any]) -> str:
        if len(self.key_slots) == 1:
            return key_text(values[self.key_slots[0]])
        parts = [key_text(values[slot]) for slot in self.key_slots]
        if any("|" in part or "\\" in part for part in parts):
            # Escaped so that no two different key tuples join to the same id.
            parts = [part.replace("\\", "\\\\").replace("|", "\\|") for part in parts]
        return "|".join(parts)

    def _updated(self, values: list[Any]) -> str:
        value = values[self.updated_slot] if self.updated_slot is not None else None
        if value is None:
            return self.fallback
        return f"{value}T00:00:00+00:00" if self.updated_is_date else str(value)


def _file_time(ns: int) -> str:
    seconds, rest = divmod(ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=rest // 1000)
    return moment.isoformat()


def hash_file(path: Path) -> tuple[os.stat_result, str]:
    """``fstat`` and the sha256 of a file, read in chunks (never whole into memory)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise FileNotFoundError(path)
        digest = hashlib.file_digest(handle, "sha256")
    return info, digest.hexdigest()


__all__ = ["FileFacts", "Row", "RowSink", "StreamPlan", "hash_file", "parse_export"]
