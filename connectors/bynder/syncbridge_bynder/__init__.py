"""The Bynder connector for syncbridge: media and metaproperties, owned tags, SNS webhooks."""

from __future__ import annotations

from syncbridge.connector.spec import ConnectorSpec
from syncbridge.connector.types import Capability, SystemKind
from syncbridge_bynder.connector import BynderConnector, factory
from syncbridge_bynder.presentation import PRESENTATION
from syncbridge_bynder.settings import BynderSettings

spec = ConnectorSpec(
    key="bynder",
    display_name="Bynder",
    kind=SystemKind.dam,
    settings_model=BynderSettings,
    capabilities=frozenset(
        {Capability.read, Capability.incremental, Capability.webhooks, Capability.write_back}
    ),
    factory=factory,
    presentation=PRESENTATION,
    description="Bynder asset bank (API v4): media, metaproperties, tags; webhooks via SNS.",
)

__all__ = ["BynderConnector", "BynderSettings", "spec"]
