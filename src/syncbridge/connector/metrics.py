"""Prometheus metrics of vendor calls, by connector (no server here: the app exposes them).

The metrics live in their own :data:`registry` so that building several apps or clients in
one process (tests, the demo) never registers a metric twice; a ``/metrics`` endpoint
serves it with ``prometheus_client.generate_latest(registry)``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

#: The registry that holds every connector metric.
registry = CollectorRegistry(auto_describe=True)

vendor_calls = Counter(
    "syncbridge_vendor_calls",
    "Calls made to vendor APIs, by connector and HTTP status (or 'error' without a response).",
    ["connector", "status"],
    registry=registry,
)
vendor_rate_limited = Counter(
    "syncbridge_vendor_rate_limited",
    "Vendor answers asking syncbridge to slow down (429, Cloudinary 420), by connector.",
    ["connector"],
    registry=registry,
)
vendor_call_seconds = Histogram(
    "syncbridge_vendor_call_seconds",
    "Latency of vendor calls in seconds, by connector.",
    ["connector"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=registry,
)


#: The metrics' children by label values: ``labels()`` looks them up under a lock, with
#: keyword checks, at several times the cost of counting itself.
_calls: dict[tuple[str, int | str], Counter] = {}
_seconds: dict[str, Histogram] = {}


def record_call(connector: str, status: int | str, seconds: float) -> None:
    """Count one vendor call and its latency."""
    counter = _calls.get((connector, status))
    if counter is None:
        counter = _calls[(connector, status)] = vendor_calls.labels(connector, str(status))
    counter.inc()
    histogram = _seconds.get(connector)
    if histogram is None:
        histogram = _seconds[connector] = vendor_call_seconds.labels(connector)
    histogram.observe(seconds)


def record_rate_limited(connector: str) -> None:
    """Count one rate-limit answer from a vendor."""
    vendor_rate_limited.labels(connector=connector).inc()


__all__ = [
    "record_call",
    "record_rate_limited",
    "registry",
    "vendor_call_seconds",
    "vendor_calls",
    "vendor_rate_limited",
]
