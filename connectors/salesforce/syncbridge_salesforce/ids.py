"""Salesforce record ids: 15-character case-sensitive ids and their 18-character form.

An id is a 3-character key prefix (``701`` Campaign, ``006`` Opportunity, ``00D``
organisation...) and 12 more base-62 characters; the 18-character form appends 3 characters
that encode which of the first 15 are upper case, so it survives case-insensitive systems.
The REST API always answers 18-character ids; outbound messages and settings may hold either.
"""

from __future__ import annotations

import re

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
ID_PATTERN = re.compile(r"[A-Za-z0-9]{15}(?:[A-Z0-5]{3})?")


def to_18(id15: str) -> str:
    """The 18-character form of a 15-character id (its case-encoding suffix appended)."""
    if len(id15) != 15:
        raise ValueError("a 15-character Salesforce id is needed")
    suffix = ""
    for start in (0, 5, 10):
        flags = sum(1 << i for i, ch in enumerate(id15[start : start + 5]) if "A" <= ch <= "Z")
        suffix += _SUFFIX_ALPHABET[flags]
    return id15 + suffix


def is_id(value: object) -> bool:
    """True for a syntactically valid 15- or 18-character id (an 18-character suffix checked)."""
    if not isinstance(value, str) or ID_PATTERN.fullmatch(value) is None:
        return False
    return len(value) == 15 or to_18(value[:15]) == value


def looks_like_id(value: object) -> bool:
    """True for 15 or 18 letters and digits (the cheap check of the read path; safe in SOQL)."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def canonical_id(value: str) -> str:
    """The 18-character form of a 15- or 18-character id; raises ValueError otherwise."""
    if not is_id(value):
        raise ValueError("not a Salesforce id (15 or 18 letters and digits)")
    return value if len(value) == 18 else to_18(value)


__all__ = ["ID_PATTERN", "canonical_id", "is_id", "looks_like_id", "to_18"]
