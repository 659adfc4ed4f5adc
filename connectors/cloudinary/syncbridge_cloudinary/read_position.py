"""Where a read of the ``resources`` stream stands: a resource type and Cloudinary's cursor.

Cloudinary lists one resource type per call, so syncbridge's cursor names the type being
read and the vendor's ``next_cursor`` inside it (None: the start of that type). Resuming
from it neither skips nor repeats a page.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from syncbridge.connector.errors import PermanentConnectorError


@dataclass(frozen=True)
class ReadPosition:
    """The resource type to read next and the vendor cursor within it."""

    resource_type: str
    next_cursor: str | None = None

    def encode(self) -> str:
        """The syncbridge cursor string (compact JSON, stable)."""
        return json.dumps({"rt": self.resource_type, "nc": self.next_cursor}, separators=(",", ":"))

    @classmethod
    def decode(cls, cursor: str | None, resource_types: Sequence[str]) -> ReadPosition:
        """The position a cursor names (None: the start); PermanentConnectorError if unusable."""
        if cursor is None:
            return cls(resource_types[0])
        try:
            data = json.loads(cursor)
        except ValueError as exc:
            raise PermanentConnectorError("cloudinary: unreadable read cursor") from exc
        if not isinstance(data, dict):
            raise PermanentConnectorError("cloudinary: unreadable read cursor")
        resource_type, next_cursor = data.get("rt"), data.get("nc")
        if resource_type not in resource_types:
            raise PermanentConnectorError(
                "cloudinary: the read cursor names a resource type this connection does not read"
            )
        if next_cursor is not None and not isinstance(next_cursor, str):
            raise PermanentConnectorError("cloudinary: unreadable read cursor")
        return cls(str(resource_type), next_cursor or None)


__all__ = ["ReadPosition"]
