"""The Cloudinary connector for syncbridge: Admin API reads, signed Upload API tag writes,
signed webhook notifications (the simulator of those APIs is the sandbox entry point)."""

from __future__ import annotations

from syncbridge.connector.spec import ConnectorSpec
from syncbridge.connector.types import Capability, SystemKind
from syncbridge_cloudinary.connector import CloudinaryConnector, factory
from syncbridge_cloudinary.presentation import PRESENTATION
from syncbridge_cloudinary.settings import CloudinarySettings

spec = ConnectorSpec(
    key="cloudinary",
    display_name="Cloudinary",
    kind=SystemKind.dam,
    settings_model=CloudinarySettings,
    capabilities=frozenset({Capability.read, Capability.webhooks, Capability.write_back}),
    factory=factory,
    presentation=PRESENTATION,
    description="Cloudinary assets (Admin API), performance tags written back through the "
    "signed Upload API, webhook notifications verified with X-Cld-Signature.",
)

__all__ = ["CloudinaryConnector", "CloudinarySettings", "spec"]
