"""How a file of a local folder is named: its file name. It has no page anywhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from syncbridge.connector.presentation import ItemFacts, ItemPresentation, text_of


def describe(
    stream: str,  # noqa: ARG001 - one stream; the contract's signature
    data: Mapping[str, Any],
    settings: Mapping[str, Any],  # noqa: ARG001 - nothing in them names the file
) -> ItemFacts:
    """The file's name as its title and file name; no URL (the external id is its path)."""
    name = text_of(data, "name")
    return ItemFacts(title=name, file_name=name)


PRESENTATION = ItemPresentation(describe=describe, text_fields=("name",))

__all__ = ["PRESENTATION", "describe"]
