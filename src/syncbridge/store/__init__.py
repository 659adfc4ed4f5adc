"""The store discipline: one unit of work per transaction, bounded retries of serialization
failures, write locks that keep cross-row invariants, store revisions and paging."""
