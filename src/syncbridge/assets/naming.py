"""Naming stored items through their connectors' presentations (``ItemPresentation``).

An item whose connector is not installed, declares no presentation, or fails to describe it
is shown without a name or URL rather than failing the whole answer (the failure is logged).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from syncbridge.assets.schemas import ConnectionName
from syncbridge.connector.errors import ConnectorLoadError, ConnectorNotFound
from syncbridge.connector.presentation import ItemFacts, ItemPresentation
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.logs import get_logger
from syncbridge.models import Connection

log = get_logger(__name__)

#: Top-level keys that conventionally hold a record's name, tried when its connector has no
#: presentation (or gives no title).
NAME_KEYS = ("name", "title", "Name", "Title", "subject", "label")
#: How many fields a fallback summary shows, and how much of each value.
SUMMARY_FIELDS = 3
SUMMARY_VALUE_CHARS = 60
#: The longest name or summary shown.
TEXT_MAX = 200

_NOTHING = ItemFacts()


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def presentation_of(registry: ConnectorRegistry, connector_key: str) -> ItemPresentation | None:
    """The connector's presentation; None when it declares none or is not installed."""
    try:
        return registry.get(connector_key).presentation
    except (ConnectorNotFound, ConnectorLoadError):
        return None


def text_fields(registry: ConnectorRegistry, connector_keys: list[str]) -> dict[str, list[str]]:
    """Connector key -> the asset data keys a text search reads for it."""
    out: dict[str, list[str]] = {}
    for key in connector_keys:
        presentation = presentation_of(registry, key)
        if presentation is not None and presentation.text_fields:
            out[key] = list(presentation.text_fields)
    return out


def fallback_summary(data: Mapping[str, Any]) -> str | None:
    """A record's conventional name field, else its first few short fields (by key)."""
    for key in NAME_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return _cut(value.strip(), TEXT_MAX)
    parts: list[str] = []
    for key in sorted(data):
        value = data[key]
        if key.lower() == "id" or key.startswith("_") or isinstance(value, bool):
            continue
        if isinstance(value, str | int | float) and str(value).strip():
            parts.append(f"{key}: {_cut(str(value).strip(), SUMMARY_VALUE_CHARS)}")
        if len(parts) == SUMMARY_FIELDS:
            break
    return _cut(" · ".join(parts), TEXT_MAX) if parts else None


class Namer:
    """Names the items of a known set of connections (see the module docstring)."""

    def __init__(
        self, registry: ConnectorRegistry, connections: Mapping[uuid.UUID, Connection]
    ) -> None:
        self.registry = registry
        self.connections = connections

    def connection(self, connection_id: uuid.UUID) -> ConnectionName:
        c = self.connections[connection_id]
        return ConnectionName(id=c.id, name=c.name, connector_key=c.connector_key)

    def facts(self, connection_id: uuid.UUID, stream: str, data: Mapping[str, Any]) -> ItemFacts:
        """What the item's connector says about it (nothing when it cannot say)."""
        connection = self.connections[connection_id]
        presentation = presentation_of(self.registry, connection.connector_key)
        if presentation is None:
            return _NOTHING
        try:
            facts = presentation.describe(stream, data, connection.settings or {})
        except Exception as exc:
            # A connector's bug must not hide every asset of a list; it is reported here.
            log.warning(
                "assets.describe_failed",
                connector=connection.connector_key,
                stream=stream,
                error_type=type(exc).__name__,
            )
            return _NOTHING
        if not isinstance(facts, ItemFacts):
            return _NOTHING
        return ItemFacts(
            title=_cut(facts.title, TEXT_MAX) if facts.title else None,
            file_name=_cut(facts.file_name, TEXT_MAX) if facts.file_name else None,
            url=facts.url or None,
        )

    def summary(self, connection_id: uuid.UUID, stream: str, data: Mapping[str, Any]) -> str | None:
        """A record's title from its connector, else :func:`fallback_summary`."""
        return self.facts(connection_id, stream, data).title or fallback_summary(data)


__all__ = ["NAME_KEYS", "Namer", "fallback_summary", "presentation_of", "text_fields"]
