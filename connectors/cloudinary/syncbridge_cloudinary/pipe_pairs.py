"""Cloudinary's ``key=value|key2=value2`` encoding of the Upload API ``context`` and ``metadata``.

As ``cloudinary.utils.encode_context`` writes it: ``=`` and ``|`` inside a value are escaped
with a backslash, and list values are JSON-encoded first (structured metadata sets).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def encode_value(value: Any) -> str:
    """One value, JSON-encoding lists, escaping the two delimiters."""
    if isinstance(value, list | tuple):
        value = json.dumps(list(value), separators=(",", ":"))
    return str(value).replace("=", "\\=").replace("|", "\\|")


def encode_pairs(pairs: Mapping[str, Any]) -> str:
    """``{"alt": "a=b"}`` -> ``alt=a\\=b``; ``None`` values are sent empty (clears the key)."""
    return "|".join(
        f"{key}={'' if value is None else encode_value(value)}" for key, value in pairs.items()
    )


def _split_unescaped(text: str, sep: str, maxsplit: int = -1) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == sep and maxsplit != 0:
            parts.append("".join(current))
            current = []
            maxsplit -= 1
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    return text.replace("\\=", "=").replace("\\|", "|")


def decode_pairs(text: str) -> dict[str, str]:
    """The inverse of :func:`encode_pairs` (values stay strings); raises ValueError when bad."""
    out: dict[str, str] = {}
    if not text:
        return out
    for item in _split_unescaped(text, "|"):
        key_value: Sequence[str] = _split_unescaped(item, "=", maxsplit=1)
        if len(key_value) != 2 or not key_value[0]:
            raise ValueError(f"not a key=value pair: {item!r}")
        out[_unescape(key_value[0])] = _unescape(key_value[1])
    return out


__all__ = ["decode_pairs", "encode_pairs", "encode_value"]
