"""The local-folder DAM connector: a directory tree of files, keywords in XMP sidecars."""

from __future__ import annotations

from syncbridge.connector.spec import ConnectorSpec
from syncbridge.connector.types import Capability, SystemKind
from syncbridge_localfolder.connector import LocalFolderConnector, create_connector
from syncbridge_localfolder.settings import LocalFolderSettings, allow_sandbox_root
from syncbridge_localfolder.simulator import materialize

spec = ConnectorSpec(
    key="localfolder",
    display_name="Local folder",
    kind=SystemKind.dam,
    settings_model=LocalFolderSettings,
    capabilities=frozenset({Capability.read, Capability.incremental, Capability.write_back}),
    factory=create_connector,
    # No vendor API, so no HTTP simulator: the sandbox writes a folder instead.
    simulator=None,
    description=(
        "A directory tree of asset files; performance tags are written as dc:subject keywords "
        "into XMP sidecars (name.ext.xmp or name.xmp) that exiftool and Adobe tools read."
    ),
    extra={"materialize": materialize, "allow_sandbox_root": allow_sandbox_root},
)

__all__ = ["LocalFolderConnector", "LocalFolderSettings", "materialize", "spec"]
