"""Linking: link rules over REST, and the links they find between assets and records.

:func:`link_run` links what a sync run changed (called by ``syncbridge.sync.settle``);
:func:`relink` re-links the whole store after a rule changed (job ``linking.relink``).
"""

from syncbridge.linking.run import LinkReport, link_run, relink

__all__ = ["LinkReport", "link_run", "relink"]
