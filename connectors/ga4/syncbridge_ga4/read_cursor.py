"""Where a read of one GA4 report stands: a day plus the rows of that day already read.

A read asks for ``dateRanges: [{startDate: <day>, endDate: "today"}]`` ordered by date and
then every other dimension. Offsets alone would break when a read resumes on another day
(``today`` and relative start dates move) or when GA4 adds rows for a revised day. So the
position is keyset-like: ``at:<day>:<skip>`` resumes with the range starting at ``day`` and
``offset = skip``, the number of that day's rows already read; rows of earlier days are out of
the range, so nothing before ``day`` can shift the offset.

The last page carries the watermark ``after:<day>``: the latest day read. GA4 keeps revising
the last few days (late data), so the next read starts ``lookback_days`` before it and reads
those days again; their rows come back with the same external ids (replace, never add).
Only GA4 knows the property's "today" (its time zone), so the end of the range is always the
relative ``today`` and no wall clock is involved.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from datetime import date, timedelta

from syncbridge.connector.errors import PermanentConnectorError

_AT = re.compile(r"at:([0-9]{4}-[0-9]{2}-[0-9]{2}):([0-9]{1,12})(?::([0-9]{4}-[0-9]{2}-[0-9]{2}))?")
_AFTER = re.compile(r"after:([0-9]{4}-[0-9]{2}-[0-9]{2})")


@dataclass(frozen=True)
class ReadCursor:
    """The start of the next request: ``start`` (a GA4 date) and ``skip`` rows of that day."""

    #: ``YYYY-MM-DD``, or a relative GA4 date (``90daysAgo``) before the first row is seen.
    start: str
    skip: int = 0
    #: The watermark the read started from (kept when the re-read finds nothing newer).
    since: date | None = None

    @classmethod
    def decode(
        cls, cursor: str | None, *, first: str, lookback_days: int, floor: date | None
    ) -> ReadCursor:
        """The position a cursor stands for; ``first`` is where a full read starts.

        A watermark starts ``lookback_days`` before the day it names (not before ``floor``,
        the configured first day). Raises PermanentConnectorError for a foreign cursor.
        """
        if cursor is None:
            return cls(first)
        if at := _AT.fullmatch(cursor):
            since = _day(at.group(3), cursor) if at.group(3) else None
            return cls(_day(at.group(1), cursor).isoformat(), int(at.group(2)), since)
        if after := _AFTER.fullmatch(cursor):
            since = _day(after.group(1), cursor)
            start = since - timedelta(days=lookback_days)
            if floor is not None and start < floor:
                start = floor
            return cls(start.isoformat(), 0, since)
        raise PermanentConnectorError(f"ga4: not a read cursor: {cursor[:80]!r}")

    def after_page(self, days: list[str]) -> ReadCursor:
        """The position after a page whose rows fall on ``days`` (ascending)."""
        if not days:
            return self
        last = days[-1]
        on_last = len(days) - bisect.bisect_left(days, last)
        skip = on_last + (self.skip if last == self.start else 0)
        return ReadCursor(last, skip, self.since)

    def encode(self) -> str:
        """``at:<day>:<skip>[:<since>]``; only for positions on an absolute day."""
        since = f":{self.since.isoformat()}" if self.since is not None else ""
        return f"at:{self.start}:{self.skip}{since}"

    def watermark(self) -> str | None:
        """The cursor of the last page: ``after:<latest day read>`` (None: nothing known)."""
        known = [self.since] if self.since is not None else []
        if self.skip > 0:
            known.append(date.fromisoformat(self.start))
        return f"after:{max(known).isoformat()}" if known else None


def _day(text: str, cursor: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PermanentConnectorError(f"ga4: not a read cursor: {cursor[:80]!r}") from None


__all__ = ["ReadCursor"]
