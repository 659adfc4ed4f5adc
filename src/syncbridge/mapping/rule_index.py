"""Per-field-path indexes of compiled rules, so evaluation cost barely grows with rule count."""

from __future__ import annotations

import bisect
from typing import Any

from syncbridge.mapping.comparison import (
    candidates,
    is_present,
    normalise,
    number_form,
    text_form,
)
from syncbridge.mapping.field_path import FieldPath
from syncbridge.mapping.regex_engine import (
    Pattern,
    combine_patterns,
    compile_pattern,
    literal_screen,
    searchable,
)
from syncbridge.mapping.views import ConceptView, RuleView

__all__ = ["CompiledRule", "PathIndex"]


class CompiledRule:
    """One in-scope rule with its effective target concept and its label set."""

    __slots__ = ("labels", "order", "rank", "rule", "slot", "target")

    def __init__(self, rule: RuleView, target: ConceptView, labels: frozenset[str]) -> None:
        self.rule = rule
        self.target = target
        self.labels = labels
        #: Lower ranks win: higher priority first, then the lower rule id.
        self.rank = (-rule.priority, rule.id)
        #: The target concept as a plain int: hashed per match, where a UUID's hash is slow.
        self.slot = target.id.int
        #: Where a match of this rule sorts in an answer: higher priority, then concept key.
        self.order = (-rule.priority, target.key)


Hits = dict[CompiledRule, Any]


class _TextIndex:
    """The text rules of one path and one case sensitivity."""

    def __init__(self, sensitive: bool) -> None:
        self.sensitive = sensitive
        self.exact: dict[str, list[CompiledRule]] = {}
        # prefix length -> prefix -> rules: a text has one candidate prefix per length.
        self.prefixes: dict[int, dict[str, list[CompiledRule]]] = {}
        self.needles: list[tuple[str, CompiledRule]] = []
        self.patterns: list[tuple[Pattern, CompiledRule]] = []
        self._needle_screen: Pattern | None = None
        self._pattern_screen: Pattern | None = None
        self._prefix_lengths: list[int] = []

    def __bool__(self) -> bool:
        return bool(self.exact or self.prefixes or self.needles or self.patterns)

    def add_exact(self, key: str, compiled: CompiledRule) -> None:
        bucket = self.exact.setdefault(key, [])
        if compiled not in bucket:
            bucket.append(compiled)

    def add_prefix(self, prefix: str, compiled: CompiledRule) -> None:
        self.prefixes.setdefault(len(prefix), {}).setdefault(prefix, []).append(compiled)

    def seal(self) -> None:
        self._prefix_lengths = sorted(self.prefixes)
        if len(self.needles) > 1:
            self._needle_screen = literal_screen([needle for needle, _ in self.needles])
        if len(self.patterns) > 1:
            # Without a combined screen (None) every pattern is simply searched on its own.
            patterns = [pattern for pattern, _ in self.patterns]
            self._pattern_screen = combine_patterns(patterns, self.sensitive)

    def match(self, raw: str, value: Any, hits: Hits) -> None:
        """Add the rules ``raw`` (a candidate's text form) satisfies."""
        key = normalise(raw, self.sensitive)
        for compiled in self.exact.get(key, ()):
            hits.setdefault(compiled, value)
        for length in self._prefix_lengths:
            if length > len(key):
                break
            for compiled in self.prefixes[length].get(key[:length], ()):
                hits.setdefault(compiled, value)
        if self.needles and (
            self._needle_screen is None or self._needle_screen.search(searchable(key)) is not None
        ):
            for needle, compiled in self.needles:
                if needle in key:
                    hits.setdefault(compiled, value)
        if self.patterns:
            self._match_patterns(searchable(raw), value, hits)

    def _match_patterns(self, text: bytes, value: Any, hits: Hits) -> None:
        if self._pattern_screen is not None and self._pattern_screen.search(text) is None:
            return  # one linear scan rules out every pattern of this index
        for pattern, compiled in self.patterns:
            if compiled not in hits and pattern.search(text) is not None:
                hits[compiled] = value


class PathIndex:
    """Every in-scope rule reading one field path, indexed by operator."""

    def __init__(self, path: FieldPath) -> None:
        self.path = path
        self._by_case = (_TextIndex(sensitive=False), _TextIndex(sensitive=True))
        self._texts: tuple[_TextIndex, ...] = ()
        self._ranges: list[tuple[float | None, float | None, CompiledRule]] = []
        self._exists: list[CompiledRule] = []
        self._stabbing: RangeStabbing | None = None

    def add(self, compiled: CompiledRule) -> None:
        """Index one rule; raises ``UnsupportedPattern`` for a regex RE2 cannot compile."""
        rule = compiled.rule
        texts = self._by_case[rule.case_sensitive]
        first = text_form(rule.values[0]) if rule.values else None
        # Compiled before anything is indexed, so a refused pattern leaves no part of the rule.
        pattern = None
        if rule.operator == "regex" and first is not None:
            pattern = compile_pattern(first, rule.case_sensitive)
        for label in compiled.labels:
            self._by_case[False].add_exact(normalise(label, False), compiled)
        if rule.operator == "exists":
            self._exists.append(compiled)
        elif rule.operator in ("equals", "in"):
            for value in rule.values:
                text = text_form(value)
                if text is not None:
                    texts.add_exact(normalise(text, rule.case_sensitive), compiled)
        elif rule.operator == "prefix" and first is not None:
            texts.add_prefix(normalise(first, rule.case_sensitive), compiled)
        elif rule.operator == "contains" and first is not None:
            texts.needles.append((normalise(first, rule.case_sensitive), compiled))
        elif pattern is not None:
            texts.patterns.append((pattern, compiled))
        elif rule.operator == "range" and rule.values:
            low, high = (*rule.values, None)[:2]
            self._ranges.append((low, high, compiled))

    def seal(self) -> None:
        """Build the screens; call once after the last :meth:`add`."""
        for texts in self._by_case:
            texts.seal()
        self._texts = tuple(texts for texts in self._by_case if texts)
        # Ranges sorted by lower bound (open first) so a scan can stop early.
        self._ranges.sort(key=lambda item: (item[0] is not None, item[0] or 0))
        self._stabbing = RangeStabbing(self._ranges) if len(self._ranges) > 8 else None

    def matches(self, record: Any) -> Hits:
        """Each rule of this path that ``record`` satisfies, with its first matching value."""
        reached = self.path.resolve(record)
        hits: Hits = {}
        if not reached:
            return hits
        exists_done = not self._exists
        for value in candidates(reached):
            if not exists_done and is_present(value):
                for compiled in self._exists:
                    hits.setdefault(compiled, value)
                exists_done = True
            raw = text_form(value)
            if raw is None:
                continue
            for texts in self._texts:
                texts.match(raw, value, hits)
            if self._ranges:
                self._match_range(value, hits)
        return hits

    def _match_range(self, value: Any, hits: Hits) -> None:
        number = number_form(value)
        if number is None:
            return
        if self._stabbing is not None:
            for compiled in self._stabbing.covering(number):
                hits.setdefault(compiled, value)
            return
        for low, high, compiled in self._ranges:
            if low is not None and low > number:
                break  # no later range can hold the number
            if high is None or number <= high:
                hits.setdefault(compiled, value)


class RangeStabbing:
    """Which closed ranges hold a number, in a binary search: the number line is cut at every
    bound into elementary pieces, each with the rules whose range covers it (many range rules
    on one path cost a look-up, not a scan)."""

    def __init__(self, ranges: list[tuple[float | None, float | None, CompiledRule]]) -> None:
        points = sorted({b for low, high, _ in ranges for b in (low, high) if b is not None})
        self._points = points
        # Piece 2k+1 is the point points[k] itself; piece 2k the open gap before it; the last
        # piece the gap after the last point.
        pieces: list[list[CompiledRule]] = [[] for _ in range(2 * len(points) + 1)]
        for low, high, compiled in ranges:
            first = 0 if low is None else 2 * bisect.bisect_left(points, low) + 1
            last = len(pieces) - 1 if high is None else 2 * bisect.bisect_left(points, high) + 1
            for piece in range(first, last + 1):
                pieces[piece].append(compiled)
        self._pieces = [tuple(p) for p in pieces]

    def covering(self, number: float) -> tuple[CompiledRule, ...]:
        index = bisect.bisect_left(self._points, number)
        on_point = index < len(self._points) and self._points[index] == number
        return self._pieces[2 * index + 1 if on_point else 2 * index]
