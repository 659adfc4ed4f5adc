"""Where a HubSpot read resumes: a full listing, or an incremental window over a watermark.

A cursor is compact JSON:

* ``{"m": "full", "w": W, "p": "active"|"archived", "a": after}``: a full read, listing
  active records and then archived ones (tombstones) with ``after``; ``W`` is the watermark
  taken when the read began (the newest modification time then, epoch milliseconds).
* ``{"m": "inc", "w": W, "o": "GT"|"GTE", "a": after, "n": consumed, "h": H, "t": [ids]}``:
  an incremental read of what changed after ``W``. ``n`` counts the results consumed in the
  current search window (HubSpot pages at most 10,000 of them); ``h`` is the newest
  modification seen; ``t`` the ids already emitted at exactly ``W`` when a window moved on
  with ``GTE``.

The last page of a full read carries ``{"m": "inc", "w": W, "o": "GT"}``, the watermark
from which the next incremental read starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from syncbridge.connector.errors import PermanentConnectorError

MAX_CURSOR_CHARS = 16_384
Phase = Literal["active", "archived"]
Operator = Literal["GT", "GTE"]


@dataclass(frozen=True)
class FullCursor:
    """A full read: listing ``phase`` from ``after``; ``watermark`` for what follows."""

    watermark: int
    phase: Phase = "active"
    after: str | None = None

    def encode(self) -> str:
        body: dict[str, Any] = {"m": "full", "w": self.watermark, "p": self.phase}
        if self.after is not None:
            body["a"] = self.after
        return _dump(body)


@dataclass(frozen=True)
class IncrementalCursor:
    """An incremental read of changes after (or at, for ``GTE``) ``watermark``."""

    watermark: int
    op: Operator = "GT"
    after: str | None = None
    consumed: int = 0
    newest: int = 0
    ties: tuple[str, ...] = field(default=())

    def encode(self) -> str:
        body: dict[str, Any] = {"m": "inc", "w": self.watermark, "o": self.op}
        if self.after is not None:
            body["a"] = self.after
        if self.consumed:
            body["n"] = self.consumed
        if self.newest:
            body["h"] = self.newest
        if self.ties:
            body["t"] = list(self.ties)
        return _dump(body)

    def finished(self) -> IncrementalCursor:
        """The watermark cursor after this read: changes after the newest modification seen."""
        return IncrementalCursor(max(self.watermark, self.newest), "GT")

    def next_page(self, after: str, seen: int, newest: int) -> IncrementalCursor:
        """The same window, one page further."""
        return replace(
            self, after=after, consumed=self.consumed + seen, newest=max(self.newest, newest)
        )


Cursor = FullCursor | IncrementalCursor


def decode(raw: str | None) -> Cursor | None:
    """The cursor in ``raw`` (None: start a full read); garbage is a permanent error."""
    if raw is None:
        return None
    if len(raw) > MAX_CURSOR_CHARS:
        raise PermanentConnectorError("hubspot: cursor is too long")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise PermanentConnectorError("hubspot: cursor is not JSON") from exc
    try:
        return _from_body(body)
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentConnectorError(f"hubspot: not a cursor: {raw[:80]!r}") from exc


def _from_body(body: Any) -> Cursor:
    if not isinstance(body, dict):
        raise TypeError("cursor must be an object")
    watermark = _int(body["w"])
    after = body.get("a")
    if after is not None and not isinstance(after, str):
        raise TypeError("after must be a string")
    if body["m"] == "full":
        phase = body.get("p", "active")
        if phase not in ("active", "archived"):
            raise ValueError("unknown phase")
        return FullCursor(watermark, phase, after)
    if body["m"] == "inc":
        op = body.get("o", "GT")
        if op not in ("GT", "GTE"):
            raise ValueError("unknown operator")
        ties = body.get("t", [])
        if not isinstance(ties, list) or not all(isinstance(t, str) for t in ties):
            raise TypeError("ties must be a list of ids")
        return IncrementalCursor(
            watermark,
            op,
            after,
            _int(body.get("n", 0)),
            _int(body.get("h", 0)),
            tuple(ties),
        )
    raise ValueError("unknown mode")


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError("expected a non-negative integer")
    return value


def _dump(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"))


__all__ = ["Cursor", "FullCursor", "IncrementalCursor", "decode"]
