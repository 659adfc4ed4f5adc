"""The Salesforce connector for syncbridge: campaigns, members, opportunities, contacts."""

from __future__ import annotations

from syncbridge.connector.spec import ConnectorSpec
from syncbridge.connector.types import Capability, SystemKind
from syncbridge_salesforce.connector import SalesforceConnector, factory
from syncbridge_salesforce.settings import SalesforceSettings

spec = ConnectorSpec(
    key="salesforce",
    display_name="Salesforce",
    kind=SystemKind.crm,
    settings_model=SalesforceSettings,
    capabilities=frozenset({Capability.read, Capability.incremental, Capability.webhooks}),
    factory=factory,
    description=(
        "Salesforce REST API: Campaign, CampaignMember, Opportunity (with its primary "
        "campaign) and Contact, incremental on SystemModstamp with tombstones; OAuth client "
        "credentials or JWT bearer; outbound messages (SOAP) as webhooks."
    ),
)

__all__ = ["SalesforceConnector", "SalesforceSettings", "spec"]
