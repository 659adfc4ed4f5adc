"""The connector contract: what every connector implements and what the core gives it.

Implementations live in the top-level ``connectors/`` folder and are discovered through
the ``syncbridge.connectors`` entry-point group.
"""
