"""The local folder's sandbox entry point (group ``syncbridge.sandboxes``): sample files.

No vendor API, so no HTTP simulator: the sandbox writes the world as a folder of files with
XMP sidecars instead.
"""

from __future__ import annotations

from syncbridge.sandbox.spec import SandboxSpec
from syncbridge_localfolder.simulator import materialize_sandbox

sandbox = SandboxSpec(
    key="localfolder",
    materialize=materialize_sandbox,
    description="The world's assets as files with XMP sidecars (four in five carry keywords).",
)

__all__ = ["sandbox"]
