"""Scoring: performance tags from metric facts and tag rules. :mod:`.score` is the pure core
(KPI, smoothing, cohort percentile, tier); scoring runs compute and store each asset's
desired tag per enabled rule."""
