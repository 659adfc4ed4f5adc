"""The Sample DAM's sandbox (entry point ``tests.plugins.sample.sandbox:sandbox``)."""

from __future__ import annotations

from syncbridge.sandbox.spec import SandboxSpec
from tests.plugins.sample.simulator import SampleSimulator

sandbox = SandboxSpec(key="sample", simulator=SampleSimulator, description="The Sample DAM API.")

__all__ = ["sandbox"]
