"""The Sample DAM: a real test connector plugin (entry point ``tests.plugins.sample:spec``)."""

from __future__ import annotations

from syncbridge.connector.spec import ConnectorSpec
from syncbridge.connector.types import Capability, SystemKind
from tests.plugins.sample.connector import SampleConnector, SampleSettings

spec = ConnectorSpec(
    key="sample",
    display_name="Sample DAM",
    kind=SystemKind.dam,
    settings_model=SampleSettings,
    capabilities=frozenset(Capability) - {Capability.uploads},
    factory=SampleConnector,
    description="A minimal DAM used by syncbridge's own tests.",
)

#: Not a spec: an entry point naming it must fail to load.
not_a_spec = {"key": "sample"}

__all__ = ["SampleConnector", "SampleSettings", "not_a_spec", "spec"]
