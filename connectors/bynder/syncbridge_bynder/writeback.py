"""Write owned performance tags (and the owned metaproperty) back onto Bynder media.

Bynder's modify call replaces the whole tag set with the ``tags`` form field, so each write
merges with the medium's current tags: it keeps every tag outside syncbridge's prefix and
sends the merged set. The current tags are the ones the change was computed from
(``TagChange.current``: the write-back sender's re-read, or the copy a reconciliation just
read) or, when the change carries none, a read of the medium just before the write. The
owned metaproperty is set with ``metaproperty.<id>=<optionId>,...``; missing options (one
per tier, named after the tag without its prefix) are created first. Bynder answers 202
and applies the change a moment later, so a successful write is ``accepted``.
Nothing is sent when the medium already carries what is desired (``skipped``). A medium
whose human tags hold a comma cannot be sent back through that comma-separated field without
splitting the tag, so its write fails (not retryable) rather than corrupting the tag.

Bynder has no conditional update: a person editing tags between our read and Bynder's
asynchronous apply can lose that edit. The window is from that read (the sender's, or the
reconciliation's) to the write, plus Bynder's delay.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from syncbridge.connector.errors import (
    AuthError,
    PermanentConnectorError,
    TransientConnectorError,
)
from syncbridge.connector.http import VendorHttp
from syncbridge.connector.types import TagChange, WriteOutcome
from syncbridge.logs import get_logger
from syncbridge_bynder.settings import BynderSettings

log = get_logger(__name__)


def merged_tags(current: Sequence[str], desired: frozenset[str], prefix: str) -> list[str]:
    """Human tags as they were (in order) followed by the desired owned tags (sorted)."""
    return [t for t in current if not t.startswith(prefix)] + sorted(desired)


def invalid_desired(desired: frozenset[str], prefix: str) -> str | None:
    """Why ``desired`` cannot be written (outside the namespace, comma), or None."""
    if outside := sorted(t for t in desired if not t.startswith(prefix)):
        return f"desired tags outside the owned prefix {prefix!r}: {', '.join(outside)}"
    if any("," in t for t in desired):
        # Bynder's tags field is one comma-separated string.
        return "a tag containing a comma cannot be written to Bynder"
    return None


def unwritable_kept(current: Sequence[object], prefix: str) -> str | None:
    """Why the human tags in ``current`` cannot be sent back unchanged, or None."""
    if any("," in str(t) for t in current if not str(t).startswith(prefix)):
        # The tags form field is comma-separated: Bynder would split that tag in two.
        return "bynder: a tag on this media contains a comma and would be split by a write"
    return None


class TagWriter:
    """Applies ``TagChange``s to one portal through its ``VendorHttp``."""

    def __init__(self, http: VendorHttp, settings: BynderSettings) -> None:
        self.http = http
        self.prefix = settings.tag_prefix
        self.metaproperty_id = settings.owned_metaproperty_id
        self._options: dict[str, str] | None = None

    async def write(self, changes: Sequence[TagChange]) -> list[WriteOutcome]:
        """One outcome per change, in order; AuthError is raised (every change would fail)."""
        outcomes = []
        for change in changes:
            try:
                outcomes.append(await self._write_one(change))
            except AuthError:
                raise
            except TransientConnectorError as exc:
                outcomes.append(WriteOutcome(change.external_id, "failed", str(exc), True))
            except PermanentConnectorError as exc:
                outcomes.append(WriteOutcome(change.external_id, "failed", str(exc)))
        return outcomes

    async def _write_one(self, change: TagChange) -> WriteOutcome:
        if change.stream != "media":
            return WriteOutcome(change.external_id, "failed", "bynder writes media only")
        if reason := invalid_desired(change.desired, self.prefix):
            return WriteOutcome(change.external_id, "failed", reason)
        media = change.current
        if media is None or not isinstance(media.get("tags"), list):
            response = await self.http.request(
                "GET", f"v4/media/{change.external_id}/", allow_status=(404,)
            )
            if response.status_code == 404:
                return WriteOutcome(change.external_id, "failed", "bynder: no such media")
            media = self.http.parse_json(response)
        if not isinstance(media, Mapping) or not isinstance(media.get("tags"), list):
            raise PermanentConnectorError("bynder: media answer has no tag list")
        form = self._tag_form(media, change.desired)
        if "tags" in form and (reason := unwritable_kept(media["tags"], self.prefix)):
            return WriteOutcome(change.external_id, "failed", reason)
        if self.metaproperty_id is not None:
            form.update(await self._metaproperty_form(media, change.desired))
        if not form:
            return WriteOutcome(change.external_id, "skipped")
        await self.http.request("POST", f"v4/media/{change.external_id}/", data=form)
        log.info(
            "bynder.write_accepted",
            media_id=change.external_id,
            fields=sorted(form),
            desired=len(change.desired),
        )
        return WriteOutcome(change.external_id, "accepted")

    def _tag_form(self, media: Mapping[str, Any], desired: frozenset[str]) -> dict[str, str]:
        current = [str(t) for t in media["tags"]]
        tags = merged_tags(current, desired, self.prefix)
        return {} if set(tags) == set(current) else {"tags": ",".join(tags)}

    async def _metaproperty_form(
        self, media: Mapping[str, Any], desired: frozenset[str]
    ) -> dict[str, str]:
        names = sorted(t.removeprefix(self.prefix) for t in desired)
        options = await self._owned_options(names)
        wanted = {options[n] for n in names}
        current = {str(o) for o in media.get("propertyOptions", [])} & set(options.values())
        if wanted == current:
            return {}
        return {f"metaproperty.{self.metaproperty_id}": ",".join(sorted(wanted))}

    async def _owned_options(self, names: Sequence[str]) -> dict[str, str]:
        """Option name -> id of the owned metaproperty, creating the names it lacks."""
        if self._options is None or any(n not in self._options for n in names):
            self._options = await self._read_options()
        missing = [n for n in names if n not in self._options]
        for name in missing:
            await self.http.request(
                "POST",
                f"v4/metaproperties/{self.metaproperty_id}/options/",
                data={"data": json.dumps({"name": name, "label": name})},
            )
            log.info("bynder.option_created", metaproperty_id=self.metaproperty_id, name=name)
        if missing:
            self._options = await self._read_options()
            if lost := [n for n in missing if n not in self._options]:
                raise PermanentConnectorError(f"bynder: options not created: {', '.join(lost)}")
        return self._options

    async def _read_options(self) -> dict[str, str]:
        mp = await self.http.get_json(f"v4/metaproperties/{self.metaproperty_id}/")
        options = mp.get("options") if isinstance(mp, dict) else None
        if not isinstance(options, list):
            raise PermanentConnectorError("bynder: metaproperty answer has no options")
        return {str(o["name"]): str(o["id"]) for o in options if isinstance(o, dict)}


__all__ = ["TagWriter", "invalid_desired", "merged_tags", "unwritable_kept"]
