"""The GA4 sandbox: the Data API simulator over the world (group ``syncbridge.sandboxes``)."""

from __future__ import annotations

from syncbridge.sandbox.spec import SandboxSpec
from syncbridge_ga4.simulator import simulator

sandbox = SandboxSpec(
    key="ga4",
    simulator=simulator,
    description=(
        "GA4 Data API v1beta: service-account token endpoint (JWT bearer, RS256), runReport "
        "(one date range, dimension and metric filters, orderBys, limit/offset, keepEmptyRows, "
        "metric aggregations, property quota, late-data revisions) and metadata over the "
        "world's analytics rows. Leaves out several date ranges, cohorts, comparisons, "
        "pivots, batch and realtime reports, expressions, currency conversion, sampling."
    ),
)

__all__ = ["sandbox"]
