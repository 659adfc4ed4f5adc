"""Runs: ``/v1/runs`` and ``syncbridge sync`` start syncs as jobs, show their reports and
cancel them; :mod:`syncbridge.runs.jobs` holds the ``sync.run`` job handler."""
