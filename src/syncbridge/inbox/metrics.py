"""Prometheus metrics of webhook ingest (in the registry ``/metrics`` serves)."""

from __future__ import annotations

from functools import cache

from prometheus_client import Counter, Histogram

from syncbridge.connector.metrics import registry

events_received = Counter(
    "syncbridge_webhook_events_received",
    "Webhook events verified and normalised, by connector.",
    ["connector"],
    registry=registry,
)
events_accepted = Counter(
    "syncbridge_webhook_events_accepted",
    "Webhook events new to the inbox (committed before the 2xx), by connector.",
    ["connector"],
    registry=registry,
)
events_duplicate = Counter(
    "syncbridge_webhook_events_duplicate",
    "Webhook events the inbox already held (a redelivery: 2xx, no new effect), by connector.",
    ["connector"],
    registry=registry,
)
deliveries_rejected = Counter(
    "syncbridge_webhook_deliveries_rejected",
    "Webhook deliveries refused, by connector and reason (signature, malformed, "
    "unknown_connection, store_unavailable, vendor_unavailable).",
    ["connector", "reason"],
    registry=registry,
)
commit_batch = Histogram(
    "syncbridge_webhook_commit_batch_size",
    "Deliveries committed together in one inbox transaction (group commit).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
    registry=registry,
)
events_processed = Counter(
    "syncbridge_inbox_events_processed",
    "Inbox events processed, by connector and outcome (handled, failed, dead).",
    ["connector", "outcome"],
    registry=registry,
)


@cache
def by_connector(counter: Counter, connector: str) -> Counter:
    """``counter.labels(connector)``, looked up once per connector (every delivery counts)."""
    return counter.labels(connector)
