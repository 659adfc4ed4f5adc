"""``syncbridge demo``: the whole loop on the embedded default, in one process.

SQLite in a data folder, the sandbox vendors (Bynder, Cloudinary, HubSpot, Salesforce, GA4,
a local folder and CSV exports), the default taxonomy, link rules and tag rules with the
demo's mapping rules; a first full sync, scoring and write-back with progress bars and a
summary; then the API serves with its worker while the simulators send signed webhooks.
"""

from syncbridge.demo.launch import DemoOptions, demo_settings, prepare_demo, run_demo

__all__ = ["DemoOptions", "demo_settings", "prepare_demo", "run_demo"]
