"""Field paths into a record: parse once, resolve many times (pure).

Grammar (a small JSONPath-like subset)::

    path     := first ( "." name | bracket )*
    first    := name | bracket
    name     := one or more characters other than . [ ] " ' and whitespace;
                a lone "*" is a wildcard
    bracket  := "[" ( integer | "*" | quoted ) "]"
    quoted   := '"' ... '"' or "'" ... "'"   (backslash escapes the quote and itself)

Examples: ``properties.utm_source``, ``tags[*]``, ``items[0].name``, ``items[-1]``,
``properties["hs.name"]``. A name step reads a mapping key; an integer step reads a list item
(negative counts from the end); a wildcard step reads every list item or every mapping value.
Resolution never raises: a missing key, an index out of range or a step that does not fit the
value's type simply reaches nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

__all__ = ["MAX_PATH_LENGTH", "WILDCARD", "FieldPath", "FieldPathError", "parse_field_path"]

MAX_PATH_LENGTH: Final = 500


class _Wildcard:
    """The ``*`` step: every item of a list, every value of a mapping."""

    def __repr__(self) -> str:
        return "WILDCARD"


WILDCARD: Final = _Wildcard()

Step = str | int | _Wildcard

_FORBIDDEN_IN_NAME = frozenset(".[]\"'")


class FieldPathError(ValueError):
    """A field path that does not parse; ``reason`` says where and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FieldPath:
    """A parsed field path: its source text and its steps."""

    text: str
    steps: tuple[Step, ...]

    @cached_property
    def has_wildcard(self) -> bool:
        return any(step is WILDCARD for step in self.steps)

    def resolve(self, record: Any) -> list[Any]:
        """Every value the path reaches in ``record`` (empty when it reaches nothing)."""
        if not self.has_wildcard:
            return _follow(record, self.steps)
        nodes: list[Any] = [record]
        for step in self.steps:
            nodes = _advance(nodes, step)
            if not nodes:
                break
        return nodes


def _follow(node: Any, steps: tuple[Step, ...]) -> list[Any]:
    """The one value a path without wildcards reaches (the hot path of evaluation)."""
    for step in steps:
        if type(step) is str:
            if not (type(node) is dict or isinstance(node, Mapping)) or step not in node:
                return []
            node = node[step]
        elif isinstance(step, int) and isinstance(node, list | tuple):
            if not -len(node) <= step < len(node):
                return []
            node = node[step]
        else:
            return []
    return [node]


def _advance(nodes: list[Any], step: Step) -> list[Any]:
    reached: list[Any] = []
    for node in nodes:
        if isinstance(step, str):
            if isinstance(node, Mapping) and step in node:
                reached.append(node[step])
        elif isinstance(step, int):
            if isinstance(node, list | tuple) and -len(node) <= step < len(node):
                reached.append(node[step])
        elif isinstance(node, list | tuple):
            reached.extend(node)
        elif isinstance(node, Mapping):
            reached.extend(node.values())
    return reached


def parse_field_path(text: str) -> FieldPath:
    """Parse ``text``; raises :class:`FieldPathError` when it is not a valid path."""
    if not text:
        raise FieldPathError("the path is empty")
    if len(text) > MAX_PATH_LENGTH:
        raise FieldPathError(f"the path is longer than {MAX_PATH_LENGTH} characters")
    steps: list[Step] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "[":
            step, pos = _bracket(text, pos)
        elif char == "." and steps:
            step, pos = _name(text, pos + 1)
        elif not steps:
            step, pos = _name(text, pos)
        else:
            raise FieldPathError(f"expected '.' or '[' at position {pos}")
        steps.append(step)
    return FieldPath(text=text, steps=tuple(steps))


def _name(text: str, start: int) -> tuple[Step, int]:
    end = start
    while end < len(text) and text[end] not in _FORBIDDEN_IN_NAME and not text[end].isspace():
        end += 1
    name = text[start:end]
    if not name:
        raise FieldPathError(f"expected a name at position {start}")
    if end < len(text) and text[end] not in ".[":
        raise FieldPathError(f"unexpected {text[end]!r} at position {end}")
    if name == "*":
        return WILDCARD, end
    if "*" in name:
        raise FieldPathError(f"'*' must be a whole step (at position {start})")
    return name, end


def _bracket(text: str, start: int) -> tuple[Step, int]:
    close = text.find("]", start)
    if start + 1 < len(text) and text[start + 1] in "\"'":
        return _quoted(text, start + 1)
    if close == -1:
        raise FieldPathError(f"unclosed '[' at position {start}")
    inner = text[start + 1 : close]
    if inner == "*":
        return WILDCARD, close + 1
    digits = inner[1:] if inner.startswith("-") else inner
    if not digits or not digits.isascii() or not digits.isdigit():
        raise FieldPathError(f"expected an integer, '*' or a quoted key at position {start + 1}")
    return int(inner), close + 1


def _quoted(text: str, start: int) -> tuple[Step, int]:
    quote = text[start]
    chars: list[str] = []
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text) and text[pos + 1] in (quote, "\\"):
            chars.append(text[pos + 1])
            pos += 2
            continue
        if char == quote:
            if pos + 1 >= len(text) or text[pos + 1] != "]":
                raise FieldPathError(f"expected ']' at position {pos + 1}")
            return "".join(chars), pos + 2
        chars.append(char)
        pos += 1
    raise FieldPathError(f"unclosed quote at position {start}")
