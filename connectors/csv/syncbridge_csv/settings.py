"""Settings of a CSV-exports connection: the folder, which files form which stream, and how
each column is read (its target field, type and format)."""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from syncbridge.connector.folders import confined_root
from syncbridge.connector.spec import ConnectorSettings, HostPolicy

ColumnType = Literal["string", "integer", "decimal", "float", "date", "datetime", "boolean"]
#: Delimiters tried, in this order, when a stream's ``delimiter`` is ``auto``.
AUTO_DELIMITERS = (",", ";", "\t", "|")
#: Characters that can never group thousands or separate decimals (they are part of numbers).
_NUMBER_CHARACTERS = frozenset("0123456789+-eE")
#: strptime directives that carry a time of day (refused in a ``date`` column's format).
_TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%f", "%p", "%z", "%Z", "%X", "%c")
_STREAM_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")


class ColumnSettings(BaseModel):
    """How one source column is read: the field it becomes, its type and its format."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    #: The record field the column's value goes to.
    field: str = Field(min_length=1, max_length=200)
    type: ColumnType = "string"
    #: ``strptime`` format of a ``date`` or ``datetime`` column (required for those, refused
    #: for the others), e.g. ``%d.%m.%Y`` or ``%Y-%m-%dT%H:%M:%S%z``.
    format: str | None = Field(default=None, min_length=1, max_length=100)
    #: Numbers (``integer``, ``decimal``, ``float``): the decimal mark and the thousands
    #: separator. A value using any other grouping is refused, never guessed.
    decimal_separator: Literal[".", ","] = "."
    thousands_separator: str | None = Field(default=None, min_length=1, max_length=1)
    #: A ``datetime`` without an offset is in this zone (IANA name). A wall time the clocks
    #: skip is refused; one they pass twice (autumn) is read as its first occurrence.
    timezone: str = "UTC"
    #: ``boolean``: the texts meaning true and false (compared case-insensitively).
    true_values: list[str] = Field(default_factory=lambda: ["true", "yes", "1"], min_length=1)
    false_values: list[str] = Field(default_factory=lambda: ["false", "no", "0"], min_length=1)
    #: An empty cell is refused (key columns are always required).
    required: bool = False

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("thousands_separator")
    @classmethod
    def _separator_is_no_digit(cls, value: str | None) -> str | None:
        if value is not None and value in _NUMBER_CHARACTERS:
            raise ValueError(f"{value!r} cannot separate thousands: it is part of numbers")
        return value

    @model_validator(mode="after")
    def _format_fits_type(self) -> ColumnSettings:
        if self.type in ("date", "datetime"):
            if self.format is None:
                raise ValueError(f"a {self.type} column needs a strptime format")
            if self.type == "date" and any(d in self.format for d in _TIME_DIRECTIVES):
                raise ValueError("a date format must not read a time of day (use datetime)")
        elif self.format is not None:
            raise ValueError(f"format applies to date and datetime columns, not {self.type}")
        if self.thousands_separator == self.decimal_separator:
            raise ValueError("the thousands separator must differ from the decimal separator")
        texts = [v.strip().lower() for v in (*self.true_values, *self.false_values)]
        if any(not text for text in texts) or len(set(texts)) != len(texts):
            raise ValueError("true_values and false_values must be distinct and not blank")
        return self


class StreamSettings(BaseModel):
    """One stream: which files hold it, what identifies a row, and its columns."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    #: ``fnmatch`` patterns (case-insensitive) of the stream's files, relative to ``root``;
    #: ``*`` crosses folders, so ``analytics/*.csv`` also matches ``analytics/2026/a.csv``.
    pattern: list[str] = Field(min_length=1, max_length=50)
    #: The fields whose values, joined, are a row's external id. They must be unique within
    #: a file (a duplicate is a bad row); they are always required.
    primary_key: list[str] = Field(min_length=1, max_length=10)
    #: Source column header -> how it is read. Every declared column must be in the file.
    columns: dict[str, ColumnSettings] = Field(min_length=1, max_length=500)
    #: ``refuse``: a file with a column not declared above is refused; ``ignore``: skipped.
    extra_columns: Literal["refuse", "ignore"] = "refuse"
    #: One character, or ``auto``: the one of ``, ; TAB |`` that splits the header into the
    #: most declared columns.
    delimiter: str = Field(default="auto", min_length=1, max_length=4)
    #: ``auto`` (byte-order mark, else strict UTF-8, else Latin-1 / Windows-1252) or a Python
    #: codec name, decoded strictly.
    encoding: str = "auto"
    #: What the rows are to syncbridge (the connector's kind is ``analytics``; a stream of
    #: deals exported from a CRM says ``crm``). Carried in each record as ``_role``.
    role: Literal["analytics", "crm"] = "analytics"
    #: A ``date`` or ``datetime`` field that is the row's ``updated_at`` (else the file's mtime).
    updated_at_field: str | None = None

    @field_validator("pattern")
    @classmethod
    def _patterns_not_blank(cls, value: list[str]) -> list[str]:
        if any(not pattern.strip() for pattern in value):
            raise ValueError("patterns must not be blank")
        return value

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if value != "auto" and (len(value) != 1 or value in '"\r\n'):
            raise ValueError("delimiter is 'auto' or one character other than a quote or newline")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        if value == "auto":
            return value
        try:
            info = codecs.lookup(value)
        except LookupError as exc:
            raise ValueError(f"unknown encoding {value!r}") from exc
        if not _is_text_codec(info.name):
            raise ValueError(f"{value!r} is not a text encoding")
        return info.name

    @model_validator(mode="after")
    def _fields_consistent(self) -> StreamSettings:
        for header in self.columns:
            if not header.strip() or header != header.strip():
                # Header cells are compared without surrounding spaces.
                raise ValueError(f"column header {header!r} is blank or has edge spaces")
        fields = [column.field for column in self.columns.values()]
        if len(set(fields)) != len(fields):
            raise ValueError("two columns map to the same field")
        if any(field.startswith("_") for field in fields):
            raise ValueError("field names starting with '_' are reserved (_source, _role)")
        by_field = {column.field: column for column in self.columns.values()}
        missing = [key for key in self.primary_key if key not in by_field]
        if missing or len(set(self.primary_key)) != len(self.primary_key):
            raise ValueError(f"primary_key must name distinct declared fields; unknown: {missing}")
        if self.updated_at_field is not None:
            target = by_field.get(self.updated_at_field)
            if target is None or target.type not in ("date", "datetime"):
                raise ValueError("updated_at_field must name a date or datetime field")
        return self


class CsvSettings(ConnectorSettings):
    """A folder of CSV exports, read as one stream per declared file pattern.

    ``root`` is confined exactly like a local-folder root: whoever may configure connections
    could otherwise point one at ``/etc`` and read files through syncbridge. The resolved
    root (symbolic links followed) must lie in a directory listed in
    ``SYNCBRIDGE_LOCAL_FOLDER_ROOTS`` (``os.pathsep``-separated); when it is unset, in the
    working directory. The sandbox's own folders are permitted as well when the host's
    :class:`HostPolicy` names them. It is checked whenever the settings are validated.
    """

    #: The folder of exports; uploads are stored here too.
    root: Path
    #: ``fnmatch`` patterns (case-insensitive) every file must match, on top of its stream's.
    #: Hidden files and folders (a leading ``.``) never match.
    include: list[str] = Field(default_factory=lambda: ["*.csv"], min_length=1, max_length=50)
    #: Stream name -> its files and columns.
    streams: dict[str, StreamSettings] = Field(min_length=1, max_length=50)
    #: Records per page of a read.
    page_size: int = Field(default=500, ge=1, le=10_000)
    #: Files one stream may hold: the read's cursor carries one entry per file.
    max_files: int = Field(default=10_000, ge=1, le=100_000)
    #: A row (all its physical lines) longer than this many characters is refused.
    max_row_chars: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)

    @field_validator("root")
    @classmethod
    def _root_is_a_permitted_directory(cls, value: Path, info: ValidationInfo) -> Path:
        return confined_root(value, HostPolicy.of(info))

    @field_validator("include")
    @classmethod
    def _include_not_blank(cls, value: list[str]) -> list[str]:
        if any(not pattern.strip() for pattern in value):
            raise ValueError("include patterns must not be blank")
        return value

    @field_validator("streams")
    @classmethod
    def _stream_names(cls, value: dict[str, StreamSettings]) -> dict[str, StreamSettings]:
        for name in value:
            if not _STREAM_NAME.fullmatch(name):
                raise ValueError(f"stream name {name!r}: letters, digits, '_' and '-' only")
        return value


def _is_text_codec(name: str) -> bool:
    try:
        "a,b\n".encode(name).decode(name)
    except (LookupError, TypeError, ValueError, UnicodeError):
        return False
    return True
