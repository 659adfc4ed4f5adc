"""A local folder as a DAM: files are assets, XMP sidecars hold their keywords.

How the core should read it
---------------------------
* **Full read** (``read("files", None)``): every asset with its content hash. It is the
  truth: run it nightly. It catches what an incremental read cannot: deleted files (absent
  from the result: the core marks assets it did not see as gone) and content changes that
  left every file time untouched (only possible with clock tricks; the hash shows them).
* **Incremental read** (``read("files", watermark)``, the watermark being the last page's
  ``next_cursor`` of the previous read): assets whose change time (latest mtime or ctime of
  the file and of its sidecar) is at or after the mark, inclusive, minus a small look-back.
  Assets met again in the look-back are skipped while their change time is the one the
  previous read saw (the cursor's edge; see ``scan``), so a read with nothing changed
  returns nothing.
* Any page's ``next_cursor`` resumes the same scan without skipping or doubling a file; the
  last page's cursor is the watermark for the next incremental read.

Nothing leaves the root: refs with ``..``, absolute paths or symbolic links are refused with
``PermanentConnectorError``, and the walk does not follow links. There are no webhooks.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx

from syncbridge.connector.errors import InvalidWebhook, PermanentConnectorError
from syncbridge.connector.types import (
    CheckResult,
    Page,
    Record,
    Ref,
    StreamSpec,
    TagChange,
    WebhookEvent,
    WriteOutcome,
)
from syncbridge.logs import get_logger
from syncbridge_localfolder.records import STREAM, describe_asset
from syncbridge_localfolder.scan import ScanCursor, now_ns, select_page
from syncbridge_localfolder.settings import LocalFolderSettings
from syncbridge_localfolder.sidecar import SidecarChanged, read_sidecar, replace_sidecar
from syncbridge_localfolder.tree import AssetTree
from syncbridge_localfolder.xmp import SidecarError, XmpDocument, merge_owned

log = get_logger(__name__)

FILES = StreamSpec(name=STREAM, primary_key="path", cursor_field="mtime", entity="asset")


class LocalFolderConnector:
    """One connection to one folder; file I/O runs in worker threads, never on the loop."""

    def __init__(self, settings: LocalFolderSettings) -> None:
        self.settings = settings
        self.tree = AssetTree.open(settings.root, settings.include, settings.sidecar_style)

    @property
    def _lookback_ns(self) -> int:
        return int(self.settings.incremental_lookback_s * 1e9)

    async def check(self) -> CheckResult:
        """Prove the root is a readable, writable folder and count its assets."""
        return await asyncio.to_thread(self._check)

    def streams(self) -> Sequence[StreamSpec]:
        """One stream, ``files``: assets keyed by relative path, followed by change time."""
        return [FILES]

    async def read(self, stream: str, cursor: str | None) -> AsyncIterator[Page]:
        """Pages of assets from ``cursor`` (None: a full read); see the module docstring."""
        _require_stream(stream)
        state = ScanCursor.decode(cursor).begin(now_ns())
        while True:
            records, state, more = await asyncio.to_thread(self._read_page, state)
            if not more:
                yield Page(records, state.finished(self._lookback_ns).encode())
                return
            yield Page(records, state.encode())

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
        raise InvalidWebhook("the localfolder connector has no webhooks")

    async def fetch(self, refs: Sequence[Ref]) -> list[Record]:
        """The current records of ``refs``; missing files and non-assets are left out.

        Raises ``PermanentConnectorError`` for a ref outside root or of another stream.
        """
        paths = [self._asset_ref(ref.stream, ref.external_id) for ref in refs]
        return await asyncio.to_thread(self._fetch, paths)

    async def write(self, changes: Sequence[TagChange]) -> list[WriteOutcome]:
        """Set the owned keywords of each asset's sidecar; people's keywords stay.

        Every ref is checked first (``PermanentConnectorError`` before anything is written).
        Outcome per change: ``applied``, ``skipped`` (nothing to change, file untouched),
        or ``failed`` (missing asset, malformed sidecar; retryable when the sidecar was
        edited concurrently). A folder has no metadata fields: ``metadata`` is ignored.
        """
        for change in changes:
            self._asset_ref(change.stream, change.external_id)
        return [await asyncio.to_thread(self._write_guarded, change) for change in changes]

    async def aclose(self) -> None:
        """Nothing is held between calls."""

    # ----- blocking parts (worker threads) -----------------------------------------------

    def _check(self) -> CheckResult:
        root = self.tree.root
        if not root.is_dir():
            return CheckResult(False, f"root {str(root)!r} is not a directory any more")
        if not os.access(root, os.R_OK | os.X_OK):
            return CheckResult(False, f"root {str(root)!r} is not readable")
        if not os.access(root, os.W_OK):
            return CheckResult(
                False, f"root {str(root)!r} is not writable: sidecars cannot be written"
            )
        count = sum(1 for _ in self.tree.walk())
        account: dict[str, Any] = {
            "root": str(root),
            "files": count,
            "sidecar_style": self.settings.sidecar_style,
        }
        return CheckResult(True, f"{count} asset files under {root}", account)

    def _read_page(self, state: ScanCursor) -> tuple[list[Record], ScanCursor, bool]:
        candidates, skipped, more = select_page(self.tree, state, self.settings.page_size)
        records: list[Record] = []
        for candidate in candidates:
            record = describe_asset(self.tree, candidate.path, self.settings.hash_algorithm)
            if record is not None:
                records.append(record)
        state = state.paged(skipped, candidates, self._lookback_ns)
        log.debug("localfolder.page_read", count=len(records), more=more)
        return records, state, more

    def _fetch(self, paths: Sequence[str | None]) -> list[Record]:
        out: list[Record] = []
        for relative in paths:
            if relative is None:
                continue
            record = describe_asset(self.tree, relative, self.settings.hash_algorithm)
            if record is not None:
                out.append(record)
        return out

    def _write_guarded(self, change: TagChange) -> WriteOutcome:
        # One bad file gives one failed outcome; the rest of the batch goes on and keeps
        # its outcomes (a file is written whole or not at all, so nothing is half done).
        try:
            return self._write_one(change)
        except Exception as exc:
            log.warning(
                "localfolder.write_failed", path=change.external_id, error=type(exc).__name__
            )
            return WriteOutcome(change.external_id, "failed", f"unexpected {type(exc).__name__}")

    def _write_one(self, change: TagChange) -> WriteOutcome:
        relative = change.external_id
        asset = self.tree.root / relative
        if change.metadata:
            log.warning(
                "localfolder.metadata_ignored", path=relative, fields=sorted(change.metadata)
            )
        if not self.tree.is_asset_path(relative) or not asset.is_file():
            return WriteOutcome(relative, "failed", "no such asset file")
        try:
            state = read_sidecar(self.tree.sidecar_of(asset))
        except SidecarError as exc:
            return WriteOutcome(relative, "failed", f"sidecar left untouched: {exc}")
        current = state.keywords()
        wanted = merge_owned(current, change.desired, self.settings.tag_prefix)
        if wanted == current:
            return WriteOutcome(relative, "skipped")
        document = state.document or XmpDocument.new()
        document.replace_keywords(wanted)
        document.remove_hierarchical(set(current) - set(wanted))
        try:
            replace_sidecar(state, document.to_bytes())
        except SidecarChanged as exc:
            return WriteOutcome(relative, "failed", str(exc), retryable=True)
        except OSError as exc:
            # A full disk or a busy share may pass; a permission problem needs a person.
            retryable = not isinstance(exc, PermissionError)
            detail = f"cannot write sidecar: {exc.strerror}"
            return WriteOutcome(relative, "failed", detail, retryable=retryable)
        log.info(
            "localfolder.sidecar_written",
            path=relative,
            added=sorted(set(wanted) - set(current)),
            removed=sorted(set(current) - set(wanted)),
        )
        return WriteOutcome(relative, "applied")

    def _asset_ref(self, stream: str, external_id: str) -> str | None:
        """Validate a ref; None when it is inside root but names no asset (left out)."""
        _require_stream(stream)
        self.tree.resolve(external_id)
        return external_id if self.tree.is_asset_path(external_id) else None


def _require_stream(stream: str) -> None:
    if stream != STREAM:
        raise PermanentConnectorError(f"localfolder has no stream {stream!r}; it has {STREAM!r}")


def create_connector(
    settings: LocalFolderSettings, client: httpx.AsyncClient
) -> LocalFolderConnector:
    """The spec's factory; the shared HTTP client is not needed by a folder."""
    del client
    return LocalFolderConnector(settings)
