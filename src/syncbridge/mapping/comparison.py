"""How record values compare: text forms, normalisation, numbers and presence."""

from __future__ import annotations

import math
import unicodedata
from typing import Any

__all__ = [
    "candidates",
    "is_present",
    "normalise",
    "number_form",
    "text_form",
]


def text_form(value: Any) -> str | None:
    """The text a scalar compares as; None for None, mappings and lists."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def normalise(text: str, case_sensitive: bool) -> str:
    """Whitespace-collapsed and, unless ``case_sensitive``, Unicode-normalised (NFKC) and
    case-folded: the form concept labels are compared in."""
    if case_sensitive:
        return " ".join(text.split())
    if text.isascii():
        # NFKC leaves ASCII alone and case-folding it is lowering: the common, cheap case.
        return " ".join(text.lower().split())
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(folded.split())


def number_form(value: Any) -> int | float | None:
    """The number a candidate is for ``range``: numbers and numeric strings, never booleans."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    # float() also takes "1_000" and non-ASCII digits; CRM text means neither as a number.
    if isinstance(value, str) and value.strip()[:1] in _NUMBER_STARTS and value.isascii():
        if "_" in value:
            return None
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


_NUMBER_STARTS = frozenset("0123456789+-.")


def candidates(values: list[Any]) -> list[Any]:
    """The values reached by a path, with list values replaced by their items."""
    flat: list[Any] = []
    for value in values:
        if isinstance(value, list | tuple):
            flat.extend(value)
        else:
            flat.append(value)
    return flat


def is_present(value: Any) -> bool:
    """What ``exists`` asks of a candidate: not None and not blank text."""
    return value is not None and not (isinstance(value, str) and not value.strip())
