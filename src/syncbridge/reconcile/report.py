"""A reconciliation run's report (kept as ``runs.report``): drift counts per kind, a few
examples of each, the re-read runs of CRM and analytics connections, and vendor calls."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

#: Drift kinds, in the order the report lists them.
KINDS = ("new", "changed", "missing", "tag_drift")
#: Examples kept per kind.
EXAMPLES = 5


@dataclass
class ConnectionDrift:
    """What one DAM connection's full read found."""

    connection_id: uuid.UUID
    name: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    read: int = 0
    vendor_calls: int = 0
    status: str = "succeeded"
    error: str | None = None


@dataclass
class Report:
    """Everything a reconciliation found and did, assembled as it goes."""

    connections: dict[uuid.UUID, ConnectionDrift] = field(default_factory=dict)
    #: Per kind, the first few assets: ``{"connection", "stream", "external_id"}``.
    examples: dict[str, list[dict[str, str]]] = field(
        default_factory=lambda: {k: [] for k in KINDS}
    )
    events: int = 0
    states_reopened: int = 0
    writebacks_planned: int = 0
    rereads: dict[str, list[str]] = field(default_factory=lambda: {"crm": [], "analytics": []})
    rate_limited: int = 0

    def of(self, connection_id: uuid.UUID, name: str) -> ConnectionDrift:
        found = self.connections.get(connection_id)
        if found is None:
            found = self.connections[connection_id] = ConnectionDrift(connection_id, name)
        return found

    def found(
        self, drift: ConnectionDrift, stream: str, kind: str, external_ids: list[str]
    ) -> None:
        """Count ``external_ids`` as drift of ``kind`` (keeping the first few as examples)."""
        drift.counts[kind] += len(external_ids)
        room = EXAMPLES - len(self.examples[kind])
        self.examples[kind] += [
            {"connection": drift.name, "stream": stream, "external_id": external_id}
            for external_id in external_ids[: max(room, 0)]
        ]

    def counts(self) -> dict[str, int]:
        return {k: sum(c.counts[k] for c in self.connections.values()) for k in KINDS}

    @property
    def vendor_calls(self) -> int:
        return sum(c.vendor_calls for c in self.connections.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "counts": self.counts(),
            "examples": {k: list(v) for k, v in self.examples.items()},
            "events_queued": self.events,
            "writeback_states_reopened": self.states_reopened,
            "writebacks_planned": self.writebacks_planned,
            "rereads": {k: list(v) for k, v in self.rereads.items()},
            "vendor_calls": self.vendor_calls,
            "rate_limited": self.rate_limited,
            "connections": [
                {
                    "connection_id": str(c.connection_id),
                    "name": c.name,
                    "status": c.status,
                    "read": c.read,
                    **c.counts,
                    "vendor_calls": c.vendor_calls,
                    "error": c.error,
                }
                for c in self.connections.values()
            ],
        }


__all__ = ["EXAMPLES", "KINDS", "ConnectionDrift", "Report"]
