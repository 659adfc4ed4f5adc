"""The cloudinary sandbox entry point (group ``syncbridge.sandboxes``): its vendor simulator.

Only the sandbox commands, ``serve --sandbox`` and tests load this module, so running the
connector never imports the simulator or the web framework it is built on.
"""

from __future__ import annotations

from syncbridge.sandbox.spec import SandboxSpec
from syncbridge_cloudinary.simulator import simulator

sandbox = SandboxSpec(
    key="cloudinary",
    simulator=simulator,
    description="Cloudinary Admin and Upload APIs, signed notifications.",
)

__all__ = ["sandbox"]
