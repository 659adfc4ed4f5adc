"""The HubSpot connector for syncbridge: contacts, companies, deals and marketing campaigns."""

from __future__ import annotations

from syncbridge.connector.spec import ConnectorSpec
from syncbridge.connector.types import Capability, SystemKind
from syncbridge_hubspot.connector import HubSpotConnector, factory
from syncbridge_hubspot.limits import DailyLimitReached
from syncbridge_hubspot.settings import HubSpotSettings

spec = ConnectorSpec(
    key="hubspot",
    display_name="HubSpot",
    kind=SystemKind.crm,
    settings_model=HubSpotSettings,
    capabilities=frozenset({Capability.read, Capability.incremental, Capability.webhooks}),
    factory=factory,
    description=(
        "HubSpot CRM (private app token): contacts, companies, deals with their contacts and "
        "campaign, and marketing campaigns with assets and UTM values; incremental reads "
        "through the search API; webhooks signed v3 (v1/v2 for older apps)."
    ),
)

__all__ = ["DailyLimitReached", "HubSpotConnector", "HubSpotSettings", "spec"]
