"""The resume cursor of every Salesforce stream: a ``SystemModstamp`` boundary and its ids.

Reads are ``SELECT ... ORDER BY SystemModstamp, Id``. A cursor holds the last boundary
timestamp read and the ids already read *at* it; the next query asks for
``SystemModstamp >= boundary`` and drops those ids. A strict ``>`` would lose rows that share
the boundary second but were committed (or became visible) after the read, and Salesforce
writes whole batches with one ``SystemModstamp``; ``>=`` plus the ids loses none of them and
repeats none, so a read from the last page's cursor with nothing changed returns nothing.

The ids are bounded (``MAX_SEEN``): when more rows than that share one timestamp, the cursor
keeps the largest id read at it instead (``after``: ids at the boundary up to it count as
read, and the query asks ``(SystemModstamp = b AND Id > after) OR SystemModstamp > b``),
which is exact for the rows the query ordered but no longer catches a row committed later
at that same second with a smaller id. Neither form catches a row whose transaction commits
after the read with a ``SystemModstamp`` before the boundary, nor a row read at the boundary
and changed again within that same second: reconciliation is the backstop for those corners.

The SOQL literal is the boundary truncated to the second (SOQL's documented datetime form),
so the query is a superset when Salesforce keeps milliseconds; rows before the boundary are
dropped here, compared as datetimes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from operator import ne

from syncbridge.connector.errors import PermanentConnectorError
from syncbridge_salesforce.ids import looks_like_id

#: Ids kept per boundary before the cursor switches to ``after`` (a cursor stays < ~45 KB).
MAX_SEEN = 2000


def parse_stamp(value: object) -> datetime:
    """A Salesforce datetime (``2026-01-05T09:00:00.000+0000``) as an aware datetime."""
    if not isinstance(value, str):
        raise ValueError(f"not a datetime: {value!r}"[:120])
    at = datetime.fromisoformat(value)
    if at.tzinfo is None:
        raise ValueError(f"datetime without a time zone: {value!r}"[:120])
    return at


def soql_datetime(at: datetime) -> str:
    """The SOQL literal for ``at`` (UTC, to the second, ``Z``)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ModstampCursor:
    """Where a read resumes: after the ids read at ``boundary`` (None: from the start)."""

    boundary: datetime | None = None
    #: Ids read at ``boundary``, in the order read.
    seen: list[str] = field(default_factory=list)
    #: Ids at ``boundary`` up to this one (inclusive) count as read.
    after: str | None = None
    _seen_set: set[str] = field(default_factory=set, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._seen_set = set(self.seen)

    # -- the string form -------------------------------------------------------------------

    def encode(self) -> str:
        """The cursor as the string a ``Page`` carries."""
        data = {
            "v": 1,
            "ts": None if self.boundary is None else self.boundary.isoformat(),
            "ids": self.seen,
            "after": self.after,
        }
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str | None) -> ModstampCursor:
        """Parse ``encode``'s output (None: from the start); raises PermanentConnectorError."""
        if raw is None:
            return cls()
        try:
            data = json.loads(raw)
            ts, ids, after = data["ts"], data["ids"], data["after"]
            boundary = None if ts is None else parse_stamp(ts)
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            raise PermanentConnectorError("salesforce: not a stream cursor") from exc
        valid = (
            data.get("v") == 1
            and isinstance(ids, list)
            and len(ids) <= MAX_SEEN
            and all(looks_like_id(i) for i in ids)
            and (after is None or looks_like_id(after))
            and (boundary is not None or (not ids and after is None))
        )
        if not valid:
            raise PermanentConnectorError("salesforce: not a stream cursor")
        return cls(boundary, list(ids), after)

    # -- the query and the rows it returns -------------------------------------------------

    def where(self) -> str:
        """The SOQL ``WHERE`` clause of a read from this cursor ("" from the start)."""
        if self.boundary is None:
            return ""
        at = soql_datetime(self.boundary)
        if self.after is None:
            return f" WHERE SystemModstamp >= {at}"
        # ``after`` is a checked id (letters and digits only): safe inside the quotes.
        return f" WHERE (SystemModstamp = {at} AND Id > '{self.after}') OR SystemModstamp > {at}"

    def admit(self, stamp: datetime, record_id: str) -> bool:
        """True when the row ``(stamp, record_id)`` was not read before; moves the cursor on.

        Rows must come in ``(SystemModstamp, Id)`` order; the caller checks that.
        """
        boundary = self.boundary
        if boundary is not None and stamp <= boundary:
            if stamp < boundary or record_id in self._seen_set:
                return False
            if self.after is not None and record_id <= self.after:
                return False
            self._remember(record_id)
            return True
        self.boundary = stamp
        self.seen, self._seen_set, self.after = [record_id], {record_id}, None
        return True

    def admit_sorted(self, keys: Sequence[tuple[datetime, str]]) -> list[bool]:
        """``admit`` of each row of a page in turn: whether each was not read before.

        The rows must come in ``(SystemModstamp, Id)`` order. Those up to the boundary are
        checked one by one against the ids read there; past it every row is new unless it
        repeats the one before it, and the cursor ends at the last timestamp with the ids read
        at it (taken as ``admit`` would have, ``after`` included).
        """
        boundary = self.boundary
        flags: list[bool] = []
        if boundary is not None:
            for stamp, record_id in keys:
                if stamp > boundary:
                    break
                flags.append(self.admit(stamp, record_id))
        rest = keys[len(flags) :]
        if not rest:
            return flags
        flags.append(True)
        flags += map(ne, islice(rest, 1, None), rest)
        last = rest[-1][0]
        start = len(rest) - 1
        while start > 0 and rest[start - 1][0] == last:
            start -= 1
        ids = list(dict.fromkeys(record_id for _, record_id in rest[start:]))
        # One by one, the ids at one timestamp fill ``seen`` up to MAX_SEEN + 1, which then
        # empties into ``after``: the last id that overflowed it.
        full = len(ids) // (MAX_SEEN + 1) * (MAX_SEEN + 1)
        self.boundary = last
        self.after = ids[full - 1] if full else None
        self.seen = ids[full:]
        self._seen_set = set(self.seen)
        return flags

    def _remember(self, record_id: str) -> None:
        self.seen.append(record_id)
        self._seen_set.add(record_id)
        if len(self.seen) > MAX_SEEN:
            # Rows at one timestamp come in Id order, and every id at it below this one was
            # either read now or before: keep the largest as ``after`` and only ids above it.
            self.after = record_id
            self.seen = [i for i in self.seen if i > record_id]
            self._seen_set = set(self.seen)


__all__ = ["MAX_SEEN", "ModstampCursor", "parse_stamp", "soql_datetime"]
