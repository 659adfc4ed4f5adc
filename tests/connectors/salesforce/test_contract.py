"""The shared connector contract, run against the Salesforce simulator.

The world (200 assets: 11 campaigns, 50 contacts and members, 20 opportunities) is served in
batches of at most 7 rows, so every stream spans at least two pages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from syncbridge_salesforce import SalesforceSettings, spec
from syncbridge_salesforce.sandbox import sandbox
from syncbridge_salesforce.simulator import SalesforceSimulator

from syncbridge.connector.spec import Connector
from syncbridge.connector.testing import ConnectorContract
from syncbridge.sandbox.faults import FaultKnobs
from syncbridge.sandbox.spec import SandboxSpec
from syncbridge.sandbox.world import World

from .support import make_simulator, settings_values

SECRET = "contract-outbound-path-secret-0001"

#: Per stream: fields whose value the contract checks against the simulator's own rows.
CHECKED_FIELDS = {
    "Campaign": ("Name", "BudgetedCost", "StartDate", "UTM_Campaign__c", "SystemModstamp"),
    "CampaignMember": ("CampaignId", "ContactId", "HasResponded", "SystemModstamp"),
    "Opportunity": ("Amount", "CampaignId", "IsWon", "CloseDate", "StageName"),
    "Contact": ("Email", "AccountId", "LastName", "SystemModstamp"),
}
#: What ``modify_item`` changes per stream (a person editing the record).
EDITS: dict[str, dict[str, Any]] = {
    "Campaign": {"Name": "Edited by a person"},
    "CampaignMember": {"Status": "Responded", "HasResponded": True},
    "Opportunity": {"Amount": 1234.5},
    "Contact": {"LastName": "Edited"},
}


class TestSalesforceContract(ConnectorContract):
    spec = spec
    webhook_url: ClassVar[str] = f"https://syncbridge.example.com/webhooks/contract/{SECRET}"
    sim: SalesforceSimulator

    async def make_connector(
        self, *, faults: FaultKnobs | None = None, **overrides: Any
    ) -> Connector:
        self.sim = make_simulator(
            faults=faults,
            outbound_endpoint="https://syncbridge.example.com/webhooks/contract",
            outbound_secret=SECRET,
        )
        values = settings_values(self.sim, **overrides)
        return spec.factory(spec.settings_model(**values), self.client_for(self.sim))

    def expected_ids(self, stream: str) -> set[str]:
        return self.sim.org.live_ids(stream)

    def expected_fields(self, stream: str, external_id: str) -> Mapping[str, Any]:
        row = self.sim.org.tables[stream].rows[external_id]
        return {name: row[name] for name in CHECKED_FIELDS[stream]}

    def bad_credentials_overrides(self) -> Mapping[str, Any]:
        return {"client_secret": "not-the-consumer-secret"}

    async def modify_item(self, stream: str, external_id: str) -> None:
        self.sim.org.update(stream, external_id, **EDITS[stream])

    async def signed_webhook(self) -> tuple[dict[str, str], bytes]:
        opportunity = sorted(self.sim.org.live_ids("Opportunity"))[:3]
        headers, body, url = self.sim.outbound_message(opportunity)
        assert url == self.webhook_url
        return headers, body

    def tamper(self, headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
        # Outbound messages are not signed: a forgery is a message naming another org.
        org = self.sim.organization_id.encode()
        assert org in body
        return headers, body.replace(org, b"00DHs0000000XyZMAU")

    def injected_faults(self) -> int | None:
        middleware = self.sim.fault_middleware
        return None if middleware is None else sum(middleware.injected.values())


def test_sandbox_builds_the_simulator_with_working_settings() -> None:
    assert isinstance(sandbox, SandboxSpec)
    assert spec.settings_model is SalesforceSettings
    assert sandbox.simulator is not None
    app = sandbox.simulator(World(seed=1, assets_count=3), faults=FaultKnobs())
    assert isinstance(app, SalesforceSimulator)
    settings = SalesforceSettings(**app.connection_settings("http://127.0.0.1:8000/sf"))
    assert settings.instance_url == "http://127.0.0.1:8000/sf"
    assert settings.login_url == settings.instance_url
    assert settings.organization_id == app.organization_id
