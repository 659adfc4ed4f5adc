"""GA4 ``FilterExpression``s compiled into predicates over the simulator's rows.

Dimension filters see a raw row's dimension values (every dimension of the property, so a
filter may name one the report does not request); metric filters see the requested metrics
of an aggregated row. Implemented: ``andGroup``, ``orGroup``, ``notExpression``; on
dimensions ``stringFilter`` (every match type, regular expressions in RE2 syntax as GA4
uses, ``caseSensitive`` defaulting to false), ``inListFilter``, ``emptyFilter``; on metrics
``numericFilter`` and ``betweenFilter``. Numeric filters on dimensions and string filters on
metrics are refused with 400.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import re2

from syncbridge_ga4.sim_errors import as_bool, as_list, as_object, enum_name, invalid, known_names
from syncbridge_ga4.sim_schema import DIMENSION_NAMES, DIMENSIONS

Number = int | float | Decimal
DimensionPredicate = Callable[[Sequence[str]], bool]
MetricPredicate = Callable[[Sequence[Number]], bool]
MAX_DEPTH = 10

MATCH_TYPES = {
    0: "MATCH_TYPE_UNSPECIFIED",
    1: "EXACT",
    2: "BEGINS_WITH",
    3: "ENDS_WITH",
    4: "CONTAINS",
    5: "FULL_REGEXP",
    6: "PARTIAL_REGEXP",
}
OPERATIONS = {
    0: "OPERATION_UNSPECIFIED",
    1: "EQUAL",
    2: "LESS_THAN",
    3: "LESS_THAN_OR_EQUAL",
    4: "GREATER_THAN",
    5: "GREATER_THAN_OR_EQUAL",
}
EXPRESSION_FIELDS = frozenset({"andGroup", "orGroup", "notExpression", "filter"})
FILTER_KINDS = ("stringFilter", "inListFilter", "numericFilter", "betweenFilter", "emptyFilter")

Leaf = Callable[[dict[str, Any], str], Callable[[Any], bool]]


def compile_dimension_filter(expr: Any, where: str) -> DimensionPredicate:
    """A predicate over all dimension values of a raw row (``DIMENSION_NAMES`` order)."""

    def leaf(spec: dict[str, Any], at: str) -> Callable[[Any], bool]:
        name = spec.get("fieldName")
        if not isinstance(name, str) or name not in DIMENSIONS:
            raise invalid(f"{at}.fieldName: Field {name} is not a valid dimension.")
        index = DIMENSION_NAMES.index(name)
        test = _string_test(spec, at, name)
        return lambda values: test(values[index])

    return _expression(expr, where, leaf, 0)


def compile_metric_filter(expr: Any, where: str, metrics: Sequence[str]) -> MetricPredicate:
    """A predicate over the requested metric values of an aggregated row."""

    def leaf(spec: dict[str, Any], at: str) -> Callable[[Any], bool]:
        name = spec.get("fieldName")
        if not isinstance(name, str) or name not in metrics:
            raise invalid(f"{at}.fieldName: metric {name} must be requested to filter on it.")
        index = list(metrics).index(name)
        test = _numeric_test(spec, at, str(name))
        return lambda values: test(values[index])

    return _expression(expr, where, leaf, 0)


def _expression(expr: Any, where: str, leaf: Leaf, depth: int) -> Callable[[Any], bool]:
    if depth > MAX_DEPTH:
        raise invalid(f"{where}: filter expressions nest at most {MAX_DEPTH} levels here")
    expr = as_object(expr, where)
    known_names(expr, EXPRESSION_FIELDS, where)
    if len(expr) != 1:
        raise invalid(f"{where}: set exactly one of andGroup, orGroup, notExpression, filter")
    ((kind, value),) = expr.items()
    at = f"{where}.{kind}"
    if kind == "notExpression":
        inner = _expression(value, at, leaf, depth + 1)
        return lambda row: not inner(row)
    if kind == "filter":
        spec = as_object(value, at)
        known_names(spec, {"fieldName", *FILTER_KINDS}, at)
        return leaf(spec, at)
    group = as_object(value, at)
    known_names(group, {"expressions"}, at)
    parts = [
        _expression(e, f"{at}.expressions[{i}]", leaf, depth + 1)
        for i, e in enumerate(as_list(group.get("expressions", []), f"{at}.expressions"))
    ]
    if kind == "andGroup":
        return lambda row: all(p(row) for p in parts)
    return lambda row: any(p(row) for p in parts)


def _one_kind(spec: dict[str, Any], at: str) -> str:
    kinds = [k for k in FILTER_KINDS if k in spec]
    if len(kinds) != 1:
        raise invalid(f"{at}: set exactly one of {', '.join(FILTER_KINDS)}")
    return kinds[0]


def _string_test(spec: dict[str, Any], at: str, name: str) -> Callable[[str], bool]:
    kind = _one_kind(spec, at)
    body = as_object(spec[kind], f"{at}.{kind}")
    where = f"{at}.{kind}"
    if kind == "emptyFilter":
        known_names(body, set(), where)
        return lambda v: v in ("", "(not set)")
    if kind == "inListFilter":
        known_names(body, {"values", "caseSensitive"}, where)
        values = as_list(body.get("values", []), f"{where}.values")
        if not all(isinstance(v, str) for v in values):
            raise invalid(f"{where}.values: values must be strings")
        if as_bool(body.get("caseSensitive", False), f"{where}.caseSensitive"):
            exact = frozenset(values)
            return lambda v: v in exact
        folded = frozenset(v.casefold() for v in values)
        return lambda v: v.casefold() in folded
    if kind != "stringFilter":
        raise invalid(f"{where}: {kind} cannot be used on dimension {name}")
    known_names(body, {"matchType", "value", "caseSensitive"}, where)
    value = body.get("value", "")
    if not isinstance(value, str):
        raise invalid(f"{where}.value: must be a string")
    sensitive = as_bool(body.get("caseSensitive", False), f"{where}.caseSensitive")
    match = enum_name(body.get("matchType", 0), MATCH_TYPES, f"{where}.matchType")
    if match in ("FULL_REGEXP", "PARTIAL_REGEXP"):
        return _regex_test(value, match, sensitive, where)
    want = value if sensitive else value.casefold()
    fold: Callable[[str], str] = (lambda v: v) if sensitive else str.casefold
    if match == "BEGINS_WITH":
        return lambda v: fold(v).startswith(want)
    if match == "ENDS_WITH":
        return lambda v: fold(v).endswith(want)
    if match == "CONTAINS":
        return lambda v: want in fold(v)
    return lambda v: fold(v) == want  # EXACT (and unspecified)


def _regex_test(pattern: str, match: str, sensitive: bool, where: str) -> Callable[[str], bool]:
    try:
        compiled = re2.compile(pattern if sensitive else f"(?i){pattern}")
    except re2.error:
        raise invalid(f"{where}.value: invalid regular expression") from None
    if match == "FULL_REGEXP":
        return lambda v: compiled.fullmatch(v) is not None
    return lambda v: compiled.search(v) is not None


def _numeric_test(spec: dict[str, Any], at: str, name: str) -> Callable[[Number], bool]:
    kind = _one_kind(spec, at)
    where = f"{at}.{kind}"
    body = as_object(spec[kind], where)
    if kind == "betweenFilter":
        known_names(body, {"fromValue", "toValue"}, where)
        low = _number(body.get("fromValue"), f"{where}.fromValue")
        high = _number(body.get("toValue"), f"{where}.toValue")
        return lambda v: low <= float(v) <= high
    if kind != "numericFilter":
        raise invalid(f"{where}: {kind} cannot be used on metric {name}")
    known_names(body, {"operation", "value"}, where)
    operation = enum_name(body.get("operation", 0), OPERATIONS, f"{where}.operation")
    bound = _number(body.get("value"), f"{where}.value")
    tests: dict[str, Callable[[float], bool]] = {
        "EQUAL": lambda v: v == bound,
        "LESS_THAN": lambda v: v < bound,
        "LESS_THAN_OR_EQUAL": lambda v: v <= bound,
        "GREATER_THAN": lambda v: v > bound,
        "GREATER_THAN_OR_EQUAL": lambda v: v >= bound,
    }
    test = tests.get(operation)
    if test is None:
        raise invalid(f"{where}.operation: an operation is required")
    return lambda v: test(float(v))


def _number(value: Any, where: str) -> float:
    """A ``NumericValue``: ``{"int64Value": "5"}`` or ``{"doubleValue": 5.0}``."""
    body = as_object(value, where)
    known_names(body, {"int64Value", "doubleValue"}, where)
    if len(body) != 1:
        raise invalid(f"{where}: set exactly one of int64Value, doubleValue")
    ((kind, raw),) = body.items()
    try:
        if kind == "int64Value" and not isinstance(raw, bool | float):
            return float(int(raw))
        if kind == "doubleValue" and not isinstance(raw, bool):
            return float(raw)
    except (TypeError, ValueError):
        pass
    raise invalid(f"Invalid JSON payload received. Invalid value at '{where}.{kind}'.")


__all__ = [
    "DimensionPredicate",
    "MetricPredicate",
    "compile_dimension_filter",
    "compile_metric_filter",
]
