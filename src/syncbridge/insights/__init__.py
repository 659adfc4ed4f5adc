"""Insights: performance grouped by taxonomy facets (``GET /v1/insights``), the evidence a
creative brief needs: per group of concepts, how many assets, the median and spread of a KPI,
and the top assets."""
