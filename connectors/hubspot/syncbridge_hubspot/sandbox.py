"""The HubSpot sandbox: the simulator the ``syncbridge.sandboxes`` entry point names."""

from __future__ import annotations

from syncbridge.sandbox.spec import SandboxSpec
from syncbridge_hubspot.simulator import simulator

sandbox = SandboxSpec(
    key="hubspot",
    simulator=simulator,
    description=(
        "HubSpot CRM v3 (contacts, companies, deals: list, read, batch read, search with its "
        "10,000-result cap, properties, associations v4) and Campaigns API v3 with "
        "EXTERNAL_WEB_URL assets, private-app auth, burst/search/daily limits with "
        "X-HubSpot-RateLimit headers, signed v3/v1/v2 webhook deliveries. Leaves out writes, "
        "propertiesWithHistory, custom objects, pipelines, campaign metrics, OAuth and scopes."
    ),
)

__all__ = ["sandbox"]
