"""CSV exports in a folder as streams of records (analytics rows, CRM deals...).

How the core should read it
---------------------------
* Each declared stream is the set of files under ``root`` matching ``include`` and the
  stream's ``pattern``, read in path order. A row becomes a record keyed by its
  ``primary_key`` fields; ``data`` holds the typed fields, ``_source`` (``file``, ``line``,
  ``encoding``: the detected or declared encoding) and ``_role`` (the stream's role).
* **A file is imported whole or not at all.** Each file is parsed completely (streamed, rows
  spooled to a private temporary database, so memory stays flat) before any of its rows is
  yielded. A bad value, header, encoding or duplicate key raises :class:`CsvRowError`
  naming file, line, column and reason; the read stops there. Files before it in path order
  whose pages were already yielded stay imported (each of them was valid and complete); the
  bad file and the files after it wait until it is fixed, and a read from the last cursor
  resumes right at the bad file.
* **Full read** (cursor None): every row of every file. It is the truth: rows of deleted
  files, and rows removed from a file, only disappear from a full read.
* **Incremental read** (from the last page's cursor): only files that are new or whose
  content hash changed, each with all its rows (a file is the unit: an export holds no
  per-row change times). Re-importing the same file changes nothing: it is skipped.
* Any page's cursor resumes the read exactly after that page.

Files arrive by whatever writes the folder, or as uploads (``accept_upload``, behind
``POST /v1/connections/{id}/uploads``): stored atomically, and refused like a read would
refuse them. There are no webhooks and no write-back: exports are read-only to syncbridge.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from typing import Any

import httpx

from syncbridge.connector.errors import ConnectorError, InvalidWebhook, PermanentConnectorError
from syncbridge.connector.folders import path_key
from syncbridge.connector.types import (
    CheckResult,
    Page,
    Record,
    Ref,
    StreamSpec,
    TagChange,
    UploadReceipt,
    WebhookEvent,
    WriteOutcome,
)
from syncbridge.logs import get_logger
from syncbridge_csv.files import KnownFile, Position, ReadCursor, list_files
from syncbridge_csv.parse import StreamPlan, hash_file
from syncbridge_csv.settings import CsvSettings
from syncbridge_csv.uploads import store_upload
from syncbridge_csv.validated import ValidatedFile

log = get_logger(__name__)

#: The record field an incremental read follows: the file (its content hash decides).
CURSOR_FIELD = "_source.file"


class _Scan:
    """The cursor of a read in progress, updated as files are passed or delivered."""

    def __init__(self, cursor: ReadCursor) -> None:
        self.cursor = cursor


class CsvConnector:
    """One connection to one folder of exports; file I/O runs in worker threads."""

    def __init__(self, settings: CsvSettings) -> None:
        self.settings = settings
        self.root = settings.root.resolve()
        self.plans = {
            name: StreamPlan(name, stream, settings.max_row_chars)
            for name, stream in sorted(settings.streams.items())
        }

    async def check(self) -> CheckResult:
        """Prove the root is a readable folder and count each stream's files."""
        return await asyncio.to_thread(self._check)

    def streams(self) -> Sequence[StreamSpec]:
        """One stream per declared stream, keyed by its primary-key fields."""
        return [
            StreamSpec(
                name=name,
                primary_key=",".join(plan.key_fields),
                cursor_field=CURSOR_FIELD,
                entity="record",
            )
            for name, plan in self.plans.items()
        ]

    async def read(self, stream: str, cursor: str | None) -> AsyncGenerator[Page, None]:
        """Pages of records from ``cursor`` (None: a full read); see the module docstring.

        Raises ``CsvRowError`` for a bad file (after yielding the pages of the valid files
        before it), ``PermanentConnectorError`` for an unknown stream or cursor.
        """
        plan = self._plan(stream)
        start = ReadCursor.decode(cursor)
        listing = await asyncio.to_thread(self._list, plan)
        scan = _Scan(start)
        held: tuple[list[Record], ReadCursor] | None = None
        try:
            for relative, info in listing:
                if start.at is not None and path_key(relative) < path_key(start.at.file):
                    continue  # delivered earlier in this read
                # Closed with the read, so a reader that stops early drops the file's spool.
                async with aclosing(self._file_pages(plan, relative, info, start, scan)) as file:
                    async for records in file:
                        # Held back one page, so that the last page carries the final cursor.
                        if held is not None:
                            yield Page(held[0], held[1].encode())
                        held = (records, scan.cursor)
        except ConnectorError:
            # The pages held back are complete and valid: deliver them, then fail.
            if held is not None:
                yield Page(held[0], held[1].encode())
            raise
        final = scan.cursor.finished({relative for relative, _info in listing})
        yield Page(held[0] if held is not None else [], final.encode())

    async def parse_webhook(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        *,
        url: str = "",  # noqa: ARG002 - a folder sends no webhooks
        method: str = "POST",  # noqa: ARG002
    ) -> list[WebhookEvent]:
        """A folder sends no webhooks: every delivery is refused."""
        del headers, raw_body
        raise InvalidWebhook("the csv connector has no webhooks")

    async def fetch(self, refs: Sequence[Ref]) -> list[Record]:
        """The current records of ``refs`` (missing ones left out).

        Reads every file of each stream asked for (an export has no index); a key found in
        several files gives the one of the last file in path order, as a full read leaves
        it. Raises ``CsvRowError`` when one of those files is bad.
        """
        wanted: dict[str, list[str]] = {}
        for ref in refs:
            self._plan(ref.stream)
            wanted.setdefault(ref.stream, []).append(ref.external_id)
        found: list[Record] = []
        for stream, ids in wanted.items():
            found.extend(await asyncio.to_thread(self._fetch, self.plans[stream], ids))
        return found

    async def write(self, changes: Sequence[TagChange]) -> list[WriteOutcome]:
        """Exports are read-only: every change fails (not retryable)."""
        return [
            WriteOutcome(change.external_id, "failed", "CSV exports are read-only")
            for change in changes
        ]

    async def accept_upload(
        self, filename: str, chunks: AsyncIterator[bytes], max_bytes: int
    ) -> UploadReceipt:
        """Store an uploaded export in the root, atomically, once it parsed for every stream
        its name belongs to (see :func:`syncbridge_csv.uploads.store_upload`)."""
        return await store_upload(self.settings, filename, chunks, max_bytes)

    async def aclose(self) -> None:
        """Nothing is held between calls."""

    # ----- one file of a read ------------------------------------------------------------

    async def _file_pages(
        self,
        plan: StreamPlan,
        relative: str,
        info: os.stat_result,
        start: ReadCursor,
        scan: _Scan,
    ) -> AsyncGenerator[list[Record], None]:
        """The pages of one file that must be delivered (none when it is unchanged);
        ``scan.cursor`` is the cursor after each page when it is yielded."""
        known = scan.cursor.known.get(relative)
        resumed = start.at if start.at is not None and start.at.file == relative else None
        if resumed is not None and known is not None and known.sha256 == resumed.sha256:
            resumed = None  # the file was completed: only a change brings it back
        hashed_at = time.time_ns()
        if resumed is None and known is not None:
            if known.unchanged(info):
                return
            try:
                current, sha256 = await asyncio.to_thread(hash_file, self.root / relative)
            except FileNotFoundError:
                return
            if sha256 == known.sha256:
                entry = KnownFile.of(current, sha256, hashed_at)
                scan.cursor = scan.cursor.remember(relative, entry)
                return
        try:
            valid = await asyncio.to_thread(ValidatedFile.parse, self.root, relative, plan)
        except FileNotFoundError:
            return  # removed since the listing: a full read will show its rows gone
        try:
            async with aclosing(self._deliver(valid, known, resumed, hashed_at, scan)) as pages:
                async for records in pages:
                    yield records
        finally:
            valid.close()

    async def _deliver(
        self,
        valid: ValidatedFile,
        known: KnownFile | None,
        resumed: Position | None,
        hashed_at: int,
        scan: _Scan,
    ) -> AsyncGenerator[list[Record], None]:
        facts = valid.facts
        entry = KnownFile.stamped(
            facts.size, facts.mtime_ns, facts.ctime_ns, facts.sha256, hashed_at
        )
        if known is not None and known.sha256 == facts.sha256:
            scan.cursor = scan.cursor.remember(facts.path, entry)
            return
        after = resumed.rows if resumed is not None and resumed.sha256 == facts.sha256 else 0
        if after >= facts.rows:
            scan.cursor = scan.cursor.completed(facts.path, entry, facts.rows)
            return
        while after < facts.rows:
            records, after = await asyncio.to_thread(valid.records, after, self.settings.page_size)
            if after >= facts.rows:
                scan.cursor = scan.cursor.completed(facts.path, entry, facts.rows)
            else:
                scan.cursor = scan.cursor.at_row(facts.path, facts.sha256, after)
            yield records

    # ----- blocking parts (worker threads) -----------------------------------------------

    def _plan(self, stream: str) -> StreamPlan:
        plan = self.plans.get(stream)
        if plan is None:
            raise PermanentConnectorError(
                f"csv has no stream {stream!r}; it has {', '.join(self.plans)}"
            )
        return plan

    def _list(self, plan: StreamPlan) -> list[tuple[str, os.stat_result]]:
        return list_files(
            self.root,
            self.settings.include,
            plan.settings.pattern,
            self.settings.max_files,
            plan.name,
        )

    def _check(self) -> CheckResult:
        root = self.root
        if not root.is_dir():
            return CheckResult(False, f"root {str(root)!r} is not a directory any more")
        if not os.access(root, os.R_OK | os.X_OK):
            return CheckResult(False, f"root {str(root)!r} is not readable")
        counts = {name: len(self._list(plan)) for name, plan in self.plans.items()}
        account: dict[str, Any] = {"root": str(root), "files": counts}
        listed = ", ".join(f"{name}: {count}" for name, count in counts.items())
        return CheckResult(True, f"export files under {root}: {listed}", account)

    def _fetch(self, plan: StreamPlan, ids: list[str]) -> list[Record]:
        found: dict[str, Record] = {}
        for relative, _info in self._list(plan):
            try:
                valid = ValidatedFile.parse(self.root, relative, plan)
            except FileNotFoundError:
                continue
            try:
                for record in valid.select(ids):
                    found[record.external_id] = record
            finally:
                valid.close()
        return [found[i] for i in dict.fromkeys(ids) if i in found]


def create_connector(settings: CsvSettings, client: httpx.AsyncClient) -> CsvConnector:
    """The spec's factory; the shared HTTP client is not needed by a folder."""
    del client
    return CsvConnector(settings)


__all__ = ["CURSOR_FIELD", "CsvConnector", "create_connector"]
