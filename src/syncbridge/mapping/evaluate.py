"""Evaluating mapping rules against one record (pure: values in, values out).

Semantics
---------
* **Scope.** Only enabled rules in the record's :class:`Scope` apply: the connector key is
  equal; a rule with ``stream`` None applies to every stream; a rule with ``connection_id``
  None applies to every connection.
* **Values.** The rule's field path (see :mod:`syncbridge.mapping.field_path`) may reach
  several values (wildcards); a value that is a list contributes each of its items. Each such
  *candidate* is tested on its own. Numbers and booleans compare on their text form
  (``true``/``false``; an integral float as an integer, ``3.0`` -> ``"3"``) except for
  ``range``; mappings and None never equal anything.
* **Normalisation.** Text is whitespace-collapsed (trimmed, inner runs to one space) and,
  unless the rule is ``case_sensitive``, case-folded, on both sides, for ``equals``, ``in``,
  ``prefix`` and ``contains``. ``regex`` searches (anywhere, not a full match) the raw text
  form, case-insensitively unless the rule is case-sensitive; patterns are RE2 syntax and run
  in time linear in the text, never backtracking (see :mod:`syncbridge.mapping.regex_engine`
  for how RE2 differs from Python ``re``). ``range`` is ``[min, max]``, inclusive, either
  bound None for open; candidates are numbers or numeric strings (booleans never).
  ``exists`` matches a candidate that is neither None nor blank text (CRMs send ``""`` for an
  unset property).
* **Labels.** ``match_labels`` adds the target concept's preferred and alternative labels (in
  every language, and those of a deprecated original as well as of its replacement) as an
  implicit ``in``, always case-insensitive. With no values, only the labels are tested.
* **Deprecation.** A rule whose concept is deprecated yields the concept's replacement
  (following a chain); a deprecated concept without a replacement yields nothing.
* **Result.** One :class:`Match` per concept, from the rule with the highest priority (ties:
  the lower rule id in string order); for that rule the first matching candidate, in path
  order, is reported. Matches are sorted by priority descending, then concept key. The result
  does not depend on the order of the input rules.

Cost: :meth:`RuleSet.compile` groups rules by field path, so each distinct path is resolved
once per record; ``equals``/``in``/label values sit in dicts keyed by normalised text (O(1)
per candidate whatever the number of rules); ``prefix``, ``contains`` and ``regex`` rules of a
path are screened by one combined RE2 pattern before they are tested one by one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from syncbridge.mapping.comparison import normalise
from syncbridge.mapping.field_path import parse_field_path
from syncbridge.mapping.regex_engine import UnsupportedPattern
from syncbridge.mapping.rule_index import CompiledRule, PathIndex
from syncbridge.mapping.views import ConceptView, Match, RuleView, Scope, TaxonomyView

__all__ = [
    "ConceptView",
    "Match",
    "RuleSet",
    "RuleView",
    "Scope",
    "TaxonomyView",
    "evaluate",
    "normalise",
]


class RuleSet:
    """Rules compiled for one scope and one taxonomy; build once, evaluate many records."""

    def __init__(
        self,
        scope: Scope,
        taxonomy: TaxonomyView,
        paths: list[PathIndex],
        skipped: tuple[str, ...] = (),
        rule_count: int = 0,
    ) -> None:
        self.scope = scope
        self.taxonomy = taxonomy
        self._paths = paths
        #: How many rules the scope admitted (evaluated, whether or not they can match).
        self.rule_count = rule_count
        #: Ids of in-scope regex rules left out because RE2 cannot compile their pattern.
        self.skipped = skipped

    @classmethod
    def compile(cls, rules: Sequence[RuleView], taxonomy: TaxonomyView, scope: Scope) -> RuleSet:
        """Index the rules of ``scope``; raises ValueError on a bad path.

        A regex rule RE2 cannot compile (only possible for a rule saved before patterns were
        checked against RE2) matches nothing and is listed in :attr:`skipped`, so that one old
        rule cannot stop every record of its connector from being mapped.
        """
        by_path: dict[tuple[Any, ...], PathIndex] = {}
        skipped: list[str] = []
        admitted = 0
        for rule in rules:
            if not scope.admits(rule):
                continue
            admitted += 1
            target = taxonomy.effective(rule.concept_id)
            if target is None:
                continue
            path = parse_field_path(rule.field_path)
            index = by_path.get(path.steps)
            if index is None:
                index = by_path[path.steps] = PathIndex(path)
            try:
                index.add(CompiledRule(rule, target, _labels(rule, target, taxonomy)))
            except UnsupportedPattern:
                skipped.append(rule.id)
        for index in by_path.values():
            index.seal()
        return cls(scope, taxonomy, list(by_path.values()), tuple(skipped), admitted)

    def evaluate(self, record: Mapping[str, Any]) -> list[Match]:
        """The concepts ``record`` lands on (see the module docstring)."""
        best: dict[int, tuple[CompiledRule, Any]] = {}
        for index in self._paths:
            for compiled, value in index.matches(record).items():
                current = best.get(compiled.slot)
                if current is None or compiled.rank < current[0].rank:
                    best[compiled.slot] = (compiled, value)
        return _sorted_matches(best.values())


def _labels(rule: RuleView, target: ConceptView, taxonomy: TaxonomyView) -> frozenset[str]:
    if not rule.match_labels:
        return frozenset()
    original = taxonomy.concepts.get(rule.concept_id)
    return target.labels | (original.labels if original is not None else frozenset())


def _sorted_matches(found: Iterable[tuple[CompiledRule, Any]]) -> list[Match]:
    return [
        Match(
            concept_id=compiled.target.id,
            concept_key=compiled.target.key,
            rule_id=compiled.rule.id,
            rule_version=compiled.rule.version,
            field_path=compiled.rule.field_path,
            matched_value=value,
            priority=compiled.rule.priority,
        )
        for compiled, value in sorted(found, key=_order)
    ]


def _order(item: tuple[CompiledRule, Any]) -> tuple[int, str]:
    return item[0].order


def evaluate(
    record: Mapping[str, Any],
    rules: RuleSet | Sequence[RuleView],
    taxonomy: TaxonomyView,
    scope: Scope | None = None,
) -> list[Match]:
    """The concepts ``record`` lands on under ``rules``.

    A compiled :class:`RuleSet` carries its scope and taxonomy (``scope``, when given, must be
    the same); a plain sequence of rules is compiled for ``scope``, which is then required.
    """
    if isinstance(rules, RuleSet):
        if scope is not None and scope != rules.scope:
            raise ValueError("the rule set was compiled for another scope")
        if taxonomy is not rules.taxonomy:
            raise ValueError("the rule set was compiled against another taxonomy")
        return rules.evaluate(record)
    if scope is None:
        raise ValueError("a scope is needed to evaluate rules that are not compiled")
    return RuleSet.compile(rules, taxonomy, scope).evaluate(record)
