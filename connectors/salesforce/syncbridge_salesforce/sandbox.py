"""The salesforce sandbox entry point (group ``syncbridge.sandboxes``): its org simulator.

Only the sandbox commands, ``serve --sandbox`` and tests load this module, so running the
connector never imports the simulator or the web framework it is built on.
"""

from __future__ import annotations

from syncbridge.sandbox.spec import SandboxSpec
from syncbridge_salesforce.simulator import simulator

sandbox = SandboxSpec(
    key="salesforce",
    simulator=simulator,
    description=(
        "Salesforce REST API: OAuth client credentials and JWT bearer, query/queryAll with "
        "a SOQL subset and nextRecordsUrl paging, describe, sObject and collection retrieve, "
        "limits, Sforce-Limit-Info and REQUEST_LIMIT_EXCEEDED, expiring sessions, outbound "
        "message (SOAP) builder. Left out: writes, Bulk/SOAP/Streaming APIs, sub-queries, "
        "relationship fields, aggregates, Leads, Campaign roll-up fields."
    ),
)

__all__ = ["sandbox"]
