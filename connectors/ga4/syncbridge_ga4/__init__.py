"""The Google Analytics 4 connector for syncbridge: configured Data API reports as records."""

from __future__ import annotations

from syncbridge.connector.spec import ConnectorSpec
from syncbridge.connector.types import Capability, SystemKind
from syncbridge_ga4.connector import Ga4Connector, factory
from syncbridge_ga4.settings import Ga4Settings, ReportSettings

spec = ConnectorSpec(
    key="ga4",
    display_name="Google Analytics 4",
    kind=SystemKind.analytics,
    settings_model=Ga4Settings,
    capabilities=frozenset({Capability.read, Capability.incremental}),
    factory=factory,
    description=(
        "GA4 Data API v1beta runReport with a service account: one stream per configured "
        "report, one record per day and dimension values, late days re-read."
    ),
)

__all__ = ["Ga4Connector", "Ga4Settings", "ReportSettings", "spec"]
