"""The CSV form of an insights answer: one row per group, RFC 4180 quoting (``csv`` module,
every field quoted when it holds a comma, quote or line break; CRLF line ends).

Columns: per grouped scheme its concept key and label (``channel``, ``channel_label``); the
group's figures (``assets``, ``insufficient``, ``median``, ``p25``, ``p75``, ``iqr``,
``min``, ``max``, ``mean``, ``pooled``); then per top asset ``top_<n>_id``,
``top_<n>_name``, ``top_<n>_value``. An empty cell is a null. A text cell that a
spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return) is written with a leading ``'``.
"""

from __future__ import annotations

import csv
import io

from syncbridge.insights.schemas import Insights, InsightsGroup

__all__ = ["FIGURES", "render_csv"]

FIGURES = ("assets", "insufficient", "median", "p25", "p75", "iqr", "min", "max", "mean", "pooled")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str | None) -> str:
    if value is None:
        return ""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _number(value: float | int | None) -> str:
    return "" if value is None else repr(value)


def _header(answer: Insights, top: int) -> list[str]:
    header = []
    for scheme in answer.group_by:
        header += [_text(scheme), _text(f"{scheme}_label")]
    header += FIGURES
    for n in range(1, top + 1):
        header += [f"top_{n}_id", f"top_{n}_name", f"top_{n}_value"]
    return header


def _row(group: InsightsGroup, top: int) -> list[str]:
    row = []
    for concept in group.concepts:
        row += [_text(concept.key), _text(concept.pref_label)]
    row += [_number(getattr(group, name)) for name in FIGURES]
    for asset in group.top_assets[:top]:
        row += [str(asset.id), _text(asset.name), _number(asset.value)]
    row += [""] * (3 * max(0, top - len(group.top_assets)))
    return row


def render_csv(answer: Insights, top: int) -> str:
    """The answer's groups as CSV, with ``top`` top-asset column triples."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_header(answer, top))
    for group in answer.groups:
        writer.writerow(_row(group, top))
    return out.getvalue()
