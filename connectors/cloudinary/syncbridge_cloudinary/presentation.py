"""How a Cloudinary asset is named and where it is seen: display name, file name, delivery URL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from syncbridge.connector.presentation import ItemFacts, ItemPresentation, text_of


def describe(
    stream: str,  # noqa: ARG001 - one stream; the contract's signature
    data: Mapping[str, Any],
    settings: Mapping[str, Any],  # noqa: ARG001 - the asset's own URL needs no settings
) -> ItemFacts:
    """An asset's display name (else the last part of its public id), its file name (the
    public id's last part plus the format; raw files carry their extension in the public id)
    and its ``secure_url``: the asset's canonical address at Cloudinary."""
    public_id = text_of(data, "public_id")
    base = public_id.rsplit("/", 1)[-1] if public_id else None
    fmt = text_of(data, "format")
    file_name = f"{base}.{fmt}" if base and fmt else base
    url = text_of(data, "secure_url") or text_of(data, "url")
    return ItemFacts(title=text_of(data, "display_name") or base, file_name=file_name, url=url)


PRESENTATION = ItemPresentation(describe=describe, text_fields=("display_name", "public_id"))

__all__ = ["PRESENTATION", "describe"]
