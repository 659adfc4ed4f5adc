"""How the store writes the Python values a connector's record may hold as JSON: one place,
so that what is stored (``syncbridge.sync.encoding``) and what linking reads of a record still
in memory (``syncbridge.linking.matching``) agree."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

__all__ = ["json_default"]


def json_default(value: Any) -> Any:
    """The JSON form of a value the JSON encoder does not know: decimals as their string,
    dates and times in ISO 8601, UUIDs as text; anything else raises ``TypeError``."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, set | frozenset):
        raise TypeError("a set has no order")
    raise TypeError(f"{type(value).__name__} is not JSON")
