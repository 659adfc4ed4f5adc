"""Reconciliation: the backstop that finds and repairs drift between the vendors and the store.

A run (``kind = reconcile``) reads every enabled DAM connection in full and compares it with
the store (:mod:`~syncbridge.reconcile.compare`); new, changed and missing assets become
inbox events (the webhook path), owned-tag drift is repaired through write-back planning,
CRM and analytics connections are re-read over their late-data window, and the run's report
says what it found (:mod:`~syncbridge.reconcile.execute`).
"""
