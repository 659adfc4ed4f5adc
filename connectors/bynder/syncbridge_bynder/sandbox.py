"""The bynder sandbox entry point (group ``syncbridge.sandboxes``): its vendor simulator.

Only the sandbox commands, ``serve --sandbox`` and tests load this module, so running the
connector never imports the simulator or the web framework it is built on.
"""

from __future__ import annotations

from syncbridge.sandbox.spec import SandboxSpec
from syncbridge_bynder.simulator import simulator

sandbox = SandboxSpec(
    key="bynder",
    simulator=simulator,
    description="Bynder API v4: media listing, info, metaproperties, tags, SNS deliveries.",
)

__all__ = ["sandbox"]
