"""The ``syncbridge`` command line."""

from syncbridge.cli.main import app

__all__ = ["app"]
