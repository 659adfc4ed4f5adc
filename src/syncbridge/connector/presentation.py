"""How people recognise a connector's items: a title, a file name, the item's page at the vendor.

A :class:`ConnectorSpec` may carry an :class:`ItemPresentation`. The core calls its
``describe`` to show stored assets and records (the asset API, the trace) and reads its
``text_fields`` to search assets by text. ``describe`` is a pure function of what the store
holds: the stream, the item's data and the connection's public settings (never its secrets);
it does no I/O and answers for any JSON it is given (missing or odd fields give ``None``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ItemFacts:
    """What a person calls one item, and where to see it at the vendor (None: unknown)."""

    #: The item's name or title as the vendor shows it.
    title: str | None = None
    #: The file name (with its extension), for items that are files.
    file_name: str | None = None
    #: The item's page or canonical URL at the vendor (for an asset: its DAM URL).
    url: str | None = None


#: ``describe(stream, data, public_settings)`` -> the item's facts.
Describe = Callable[[str, Mapping[str, Any], Mapping[str, Any]], ItemFacts]


@dataclass(frozen=True)
class ItemPresentation:
    """A connector's way of naming its items (see the module docstring)."""

    describe: Describe
    #: Top-level keys of an asset's ``data`` whose text is its title or file name: what a
    #: text search of assets reads besides the external id.
    text_fields: tuple[str, ...] = ()


def text_of(data: Mapping[str, Any], key: str) -> str | None:
    """``data[key]`` when it is a non-blank string, else None (for ``describe`` functions)."""
    value = data.get(key)
    return value if isinstance(value, str) and value.strip() else None


__all__ = ["Describe", "ItemFacts", "ItemPresentation", "text_of"]
