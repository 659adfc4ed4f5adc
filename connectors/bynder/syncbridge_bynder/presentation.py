"""How a Bynder medium is named and where it is seen: its name, file name and portal page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from syncbridge.connector.presentation import ItemFacts, ItemPresentation, text_of
from syncbridge_bynder.connector import MEDIA


def describe(stream: str, data: Mapping[str, Any], settings: Mapping[str, Any]) -> ItemFacts:
    """A medium's name, ``name.extension`` and its page in the portal
    (``{portal}/media/?mediaId={id}``, the link Bynder's "copy link" gives)."""
    name = text_of(data, "name")
    if stream != MEDIA:
        return ItemFacts(title=name)
    extensions = data.get("extension")
    extension = extensions[0] if isinstance(extensions, list) and extensions else None
    file_name = name
    if name is not None and isinstance(extension, str) and extension:
        file_name = f"{name}.{extension}"
    portal, media_id = settings.get("base_url"), data.get("id")
    url = None
    if isinstance(portal, str) and portal and isinstance(media_id, str) and media_id:
        url = f"{portal.rstrip('/')}/media/?mediaId={quote(media_id, safe='')}"
    return ItemFacts(title=name, file_name=file_name, url=url)


PRESENTATION = ItemPresentation(describe=describe, text_fields=("name",))

__all__ = ["PRESENTATION", "describe"]
