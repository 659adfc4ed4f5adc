"""Regex rules run on Google RE2: linear time in the text searched, never backtracking.

A rule's pattern is RE2 syntax (https://github.com/google/re2/wiki/Syntax), which is Python
``re`` syntax without backreferences, lookaround, atomic groups and possessive quantifiers.
Other differences from Python ``re``: ``$`` matches only at the very end of the text (not
before a final newline), ``\\Z`` is spelled ``\\z``, ``\\uXXXX`` is spelled ``\\x{XXXX}``, and
``\\d``, ``\\w``, ``\\s`` and ``\\b`` are ASCII-only (``\\pN``, ``\\pL`` are Unicode).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Protocol, cast

import re2

__all__ = [
    "Pattern",
    "UnsupportedPattern",
    "combine_patterns",
    "compile_pattern",
    "literal_screen",
    "searchable",
]


class Pattern(Protocol):
    """A compiled RE2 pattern, searched with the bytes of :func:`searchable`."""

    @property
    def pattern(self) -> str:
        """The pattern text it was compiled from."""

    def search(self, text: bytes) -> object | None:
        """A match object when the pattern occurs anywhere in ``text``, else None."""


class UnsupportedPattern(ValueError):
    """The pattern cannot be compiled by RE2; ``reason`` says why, for a 422."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def compile_pattern(pattern: str, case_sensitive: bool) -> Pattern:
    """The RE2 pattern a regex rule searches with; raises :class:`UnsupportedPattern`."""
    try:
        return cast(Pattern, re2.compile(pattern, _options(case_sensitive)))
    except UnicodeEncodeError:
        raise UnsupportedPattern("a pattern must be valid Unicode text") from None
    except re2.error as exc:
        raise UnsupportedPattern(_reason(pattern, exc)) from None


def combine_patterns(patterns: Sequence[Pattern], case_sensitive: bool) -> Pattern | None:
    """One pattern matching where any of ``patterns`` does; None if RE2 cannot build it."""
    # RE2 scopes inline flags such as (?i) to their group, so the alternatives stay apart.
    alternation = "|".join(f"(?:{p.pattern})" for p in patterns)
    try:
        return compile_pattern(alternation, case_sensitive)
    except UnsupportedPattern:
        return None  # e.g. too large together, or two groups of the same name


def literal_screen(needles: Sequence[str]) -> Pattern | None:
    """One case-sensitive pattern matching where any of ``needles`` occurs; None if unbuildable."""
    try:
        alternation = "|".join(re2.escape(needle) for needle in needles)
        return compile_pattern(alternation, case_sensitive=True)
    except (UnicodeEncodeError, UnsupportedPattern):
        return None  # e.g. a lone surrogate in a needle: the needles are then tried one by one


def searchable(text: str) -> bytes:
    """``text`` as the UTF-8 bytes a :class:`Pattern` searches (lone surrogates kept)."""
    # Values parsed from JSON may hold lone surrogates, which strict UTF-8 refuses.
    return text.encode("utf-8", "surrogatepass")


def _options(case_sensitive: bool) -> object:
    options = re2.Options()
    options.case_sensitive = case_sensitive
    options.never_capture = True  # rules only ask whether a pattern occurs
    options.log_errors = False  # a refused pattern is reported to the caller, not to stderr
    return options


def _reason(pattern: str, exc: Exception) -> str:
    detail = exc.args[0] if exc.args else exc
    message = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    if _python_accepts(pattern):
        return f"not supported by the linear-time regex engine: {message}"
    return f"not a valid regular expression: {message}"


def _python_accepts(pattern: str) -> bool:
    # Only compiled (never run) to tell an unsupported feature from a plain syntax error.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return False
    return True
