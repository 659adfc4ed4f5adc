"""Tag rules: how performance tags are computed from metric facts (window, cohort, KPI,
smoothing, minimum sample, percentile tiers of the ``performance-tier`` scheme) and how they
land in each DAM, versioned and audited under ``/v1/tag-rules``."""
