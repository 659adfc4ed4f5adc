"""The local-folder DAM connector: a directory tree of files, keywords in XMP sidecars."""

from __future__ import annotations

from syncbridge.connector.spec import ConnectorSpec
from syncbridge.connector.types import Capability, SystemKind
from syncbridge_localfolder.connector import LocalFolderConnector, create_connector
from syncbridge_localfolder.presentation import PRESENTATION
from syncbridge_localfolder.settings import LocalFolderSettings

spec = ConnectorSpec(
    key="localfolder",
    display_name="Local folder",
    kind=SystemKind.dam,
    settings_model=LocalFolderSettings,
    capabilities=frozenset({Capability.read, Capability.incremental, Capability.write_back}),
    factory=create_connector,
    presentation=PRESENTATION,
    description=(
        "A directory tree of asset files; performance tags are written as dc:subject keywords "
        "into XMP sidecars (name.ext.xmp or name.xmp) that exiftool and Adobe tools read."
    ),
)

__all__ = ["LocalFolderConnector", "LocalFolderSettings", "spec"]
