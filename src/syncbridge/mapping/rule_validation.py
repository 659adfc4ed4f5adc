"""Checks a rule's path, operator and values before it is saved or previewed (pure).

Regex patterns are checked by compiling them with RE2, the engine that runs them (see
:mod:`syncbridge.mapping.regex_engine`), so a saved or drafted pattern always runs in linear time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from syncbridge.mapping.comparison import text_form
from syncbridge.mapping.field_path import FieldPathError, parse_field_path
from syncbridge.mapping.regex_engine import UnsupportedPattern, compile_pattern
from syncbridge.models import OPERATORS

__all__ = ["MAX_PATTERN_LENGTH", "MAX_VALUE_LENGTH", "rule_errors"]

MAX_PATTERN_LENGTH = 500
MAX_VALUE_LENGTH = 1000
_ONE_VALUE = ("equals", "prefix", "contains", "regex")

Errors = list[dict[str, str]]


def rule_errors(
    *, field_path: str, operator: str, values: Sequence[Any], match_labels: bool, prefix: str = ""
) -> Errors:
    """Field-level reasons the rule is invalid (empty when it is valid).

    ``prefix`` is put before every field name (``"draft_rules.0."`` for a draft).
    """
    errors: Errors = []
    try:
        parse_field_path(field_path)
    except FieldPathError as exc:
        errors.append({"field": "field_path", "reason": exc.reason})
    if operator not in OPERATORS:
        errors.append({"field": "operator", "reason": f"must be one of {', '.join(OPERATORS)}"})
    else:
        errors += _value_errors(operator, list(values), match_labels)
    return [{"field": prefix + e["field"], "reason": e["reason"]} for e in errors]


def _value_errors(operator: str, values: list[Any], match_labels: bool) -> Errors:
    if operator == "exists":
        return _error("values", "must be empty for 'exists'") if values else []
    if not values:
        if match_labels:
            return []  # the concept's labels are the values
        return _error("values", f"'{operator}' needs values (or match_labels)")
    if operator == "range":
        return _range_errors(values)
    if operator in _ONE_VALUE and len(values) != 1:
        return _error("values", f"'{operator}' takes exactly one value")
    errors: Errors = []
    for i, value in enumerate(values):
        text = text_form(value)
        if text is None:
            errors += _error(f"values.{i}", "must be text, a number or a boolean")
        elif len(text) > MAX_VALUE_LENGTH:
            errors += _error(f"values.{i}", f"may be at most {MAX_VALUE_LENGTH} characters")
        elif operator in ("prefix", "contains") and not text.strip():
            errors += _error(f"values.{i}", "must not be blank")
    if operator == "regex" and not errors:
        errors += _pattern_errors(values[0])
    return errors


def _pattern_errors(pattern: Any) -> Errors:
    if not isinstance(pattern, str):
        return _error("values.0", "a regex pattern must be text")
    if len(pattern) > MAX_PATTERN_LENGTH:
        return _error("values.0", f"a pattern may be at most {MAX_PATTERN_LENGTH} characters")
    try:
        # Case sensitivity changes only RE2 options, never whether a pattern compiles.
        compile_pattern(pattern, case_sensitive=True)
    except UnsupportedPattern as exc:
        return _error("values.0", exc.reason)
    return []


def _range_errors(values: list[Any]) -> Errors:
    if len(values) != 2:
        return _error("values", "'range' takes [min, max]; either may be null")
    errors: Errors = []
    for i, bound in enumerate(values):
        is_number = isinstance(bound, int | float) and not isinstance(bound, bool)
        if bound is not None and not (is_number and math.isfinite(bound)):
            errors += _error(f"values.{i}", "a bound must be a finite number or null")
    low, high = values
    if not errors and low is not None and high is not None and low > high:
        errors += _error("values", "min must not exceed max")
    return errors


def _error(field: str, reason: str) -> Errors:
    return [{"field": field, "reason": reason}]
