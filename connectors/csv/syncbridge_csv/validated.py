"""A file parsed completely and spooled: only such a file's rows become records.

Blocking file I/O: the connector calls these from worker threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from syncbridge.connector.types import Record
from syncbridge.logs import get_logger
from syncbridge_csv.parse import FileFacts, StreamPlan, parse_export
from syncbridge_csv.spool import Spool, SpooledRow

log = get_logger(__name__)


@dataclass
class ValidatedFile:
    """A valid file's facts and its typed rows (close it to drop them)."""

    facts: FileFacts
    spool: Spool
    plan: StreamPlan

    @classmethod
    def parse(
        cls, root: Path, relative: str, plan: StreamPlan, *, shown_as: str | None = None
    ) -> ValidatedFile:
        """Parse the whole file; raises ``CsvRowError`` (nothing kept) for a bad one.

        Also ``FileNotFoundError`` (gone or no regular file) and ``TransientConnectorError``
        (changed while read). ``shown_as`` names the file in errors (default ``relative``).
        """
        spool = Spool(shown_as or relative, ", ".join(_key_sources(plan)), len(plan.fields))
        try:
            facts = parse_export(root, relative, plan, spool.add, shown_as=shown_as)
        except BaseException:
            spool.close()
            raise
        log.info(
            "csv.file_validated",
            stream=plan.name,
            file=facts.path,
            rows=facts.rows,
            encoding=facts.encoding,
            delimiter=facts.delimiter,
        )
        return cls(facts, spool, plan)

    def records(self, after: int, size: int) -> tuple[list[Record], int]:
        """Records of up to ``size`` rows after the ``after``-th; and the last row's number."""
        rows = self.spool.page(after, size)
        last = rows[-1][0] if rows else after
        return [self.record(row) for row in rows], last

    def select(self, external_ids: list[str]) -> list[Record]:
        """Records of the rows with these ids (missing ones left out)."""
        return [self.record(row) for row in self.spool.select(external_ids)]

    def record(self, row: SpooledRow) -> Record:
        """One spooled row as a record: typed fields, ``_source`` and ``_role``."""
        _seq, external_id, line, updated_at, values = row
        fields = dict(zip(self.plan.fields, values, strict=True))
        for name in self.plan.booleans:
            if fields[name] is not None:
                fields[name] = bool(fields[name])
        fields["_source"] = {
            "file": self.facts.path,
            "line": line,
            "encoding": self.facts.encoding,
        }
        fields["_role"] = self.plan.settings.role
        return Record(
            stream=self.plan.name,
            external_id=external_id,
            data=fields,
            updated_at=datetime.fromisoformat(updated_at),
        )

    def close(self) -> None:
        """Drop the spooled rows."""
        self.spool.close()


def _key_sources(plan: StreamPlan) -> list[str]:
    by_field = {column.field: source for source, column in plan.settings.columns.items()}
    return [by_field[field] for field in plan.key_fields]
