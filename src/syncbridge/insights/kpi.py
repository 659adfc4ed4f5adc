"""The KPI of an insights query, in the tag rules' vocabulary: ``metric`` is a count (the
metric's total over the window), ``numerator/denominator`` a rate (one metric's total per
another's), over the metrics of the metric facts (``syncbridge.tagging.validation.METRICS``)."""

from __future__ import annotations

from syncbridge.tagging.schemas import CountKpi, RateKpi
from syncbridge.tagging.validation import METRICS

__all__ = ["DEFAULT_KPI", "KpiError", "kpi_metrics", "kpi_text", "parse_kpi"]

#: The default tag rule's KPI: key events per view.
DEFAULT_KPI = "key_events/views"


class KpiError(ValueError):
    """Why a KPI text names no KPI (the reason, for the ``kpi`` field)."""


def parse_kpi(text: str) -> CountKpi | RateKpi:
    """``views`` -> a count, ``key_events/views`` -> a rate; :class:`KpiError` for anything
    else (an unknown metric has no data source)."""
    parts = [part.strip() for part in text.split("/")]
    known = ", ".join(sorted(METRICS))
    if len(parts) > 2 or not all(parts):
        raise KpiError(f"not a metric or numerator/denominator of metrics ({known})")
    for part in parts:
        if part not in METRICS:
            raise KpiError(f"no data source: {part!r} is not a metric (one of {known})")
    if len(parts) == 1:
        return CountKpi(type="count", metric=parts[0])
    if parts[0] == parts[1]:
        raise KpiError("the denominator is the same metric as the numerator")
    return RateKpi(type="rate", numerator=parts[0], denominator=parts[1])


def kpi_metrics(kpi: CountKpi | RateKpi) -> tuple[str, ...]:
    """The metrics the KPI reads: the count's, or the rate's numerator and denominator."""
    return (kpi.metric,) if isinstance(kpi, CountKpi) else (kpi.numerator, kpi.denominator)


def kpi_text(kpi: CountKpi | RateKpi) -> str:
    """The KPI as the query names it."""
    return "/".join(kpi_metrics(kpi))
