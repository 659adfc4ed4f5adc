"""The CSV connector's sandbox entry point (group ``syncbridge.sandboxes``): sample exports.

No vendor API, so no HTTP simulator: the sandbox writes the world as CSV exports into a
folder (see :mod:`syncbridge_csv.exports`) and returns the settings of a connection to it.
"""

from __future__ import annotations

from syncbridge.sandbox.spec import SandboxSpec
from syncbridge_csv.exports import materialize

sandbox = SandboxSpec(
    key="csv",
    materialize=materialize,
    description=(
        "The world as CSV exports: a GA4-style page report per day for the last 7 days "
        "(UTF-8 with BOM and commas, or UTF-16 with tabs) and a European-format CRM deal "
        "report (semicolons, 1.234,50, dd.mm.yyyy). Leaves out contacts, companies and "
        "GA4's late revisions."
    ),
)

__all__ = ["sandbox"]
