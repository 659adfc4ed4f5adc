"""Structured metadata field definitions of the simulated product environment."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MetadataField:
    """A structured metadata field definition (``GET /metadata_fields``)."""

    external_id: str
    label: str
    type: str
    #: (entry external id, display value) for enum/set fields.
    entries: tuple[tuple[str, str], ...] = ()

    def parse(self, value: str) -> str | list[str] | None:
        """The stored form of a written value (a JSON list for ``set``), None when invalid."""
        if self.type not in ("enum", "set"):
            return value
        allowed = {entry for entry, _ in self.entries}
        if self.type == "enum":
            return value if value in allowed else None
        try:
            values = json.loads(value) if value.startswith("[") else [value]
        except ValueError:
            return None
        if not isinstance(values, list) or not all(v in allowed for v in values):
            return None
        return [str(v) for v in values]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "external_id": self.external_id,
            "label": self.label,
            "mandatory": False,
            "default_value": None,
            "validation": None,
        }
        if self.entries:
            out["datasource"] = {
                "values": [
                    {"external_id": entry, "value": value, "state": "active"}
                    for entry, value in self.entries
                ]
            }
        return out


PERFORMANCE_TIER_FIELD = MetadataField(
    external_id="performance_tier",
    label="Performance tier",
    type="enum",
    entries=(
        ("top-10", "Top 10%"),
        ("top-25", "Top 25%"),
        ("middle", "Middle"),
        ("bottom-25", "Bottom 25%"),
        ("insufficient-data", "Insufficient data"),
    ),
)


__all__ = ["PERFORMANCE_TIER_FIELD", "MetadataField"]
