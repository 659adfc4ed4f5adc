"""Prometheus metrics of the job queue: outcomes and latency per attempt, counted by the
process that ran it (the queue's depth is read from the store at scrape time, see
:mod:`syncbridge.api.metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from syncbridge.connector.metrics import registry

job_outcomes = Counter(
    "syncbridge_job_outcomes",
    "Job attempts by kind and outcome (done, retry, dead, lease_lost), in this process.",
    ["kind", "outcome"],
    registry=registry,
)
job_seconds = Histogram(
    "syncbridge_job_seconds",
    "Seconds a job attempt ran, by kind, in this process.",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0),
    registry=registry,
)
