"""Property tests: the compiled rule set agrees with a naive evaluator, and is order-blind."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from syncbridge.mapping.comparison import (
    candidates,
    is_present,
    normalise,
    number_form,
    text_form,
)
from syncbridge.mapping.evaluate import (
    ConceptView,
    Match,
    RuleSet,
    RuleView,
    Scope,
    TaxonomyView,
    evaluate,
)
from syncbridge.mapping.field_path import parse_field_path

CONCEPTS = [
    ConceptView(uuid.UUID(int=1), "c:li", labels=frozenset({"li", "linkedin"})),
    ConceptView(uuid.UUID(int=2), "c:mail", labels=frozenset({"e mail", "ab"})),
    ConceptView(uuid.UUID(int=3), "c:old", "deprecated", uuid.UUID(int=1), frozenset({"a"})),
    ConceptView(uuid.UUID(int=4), "c:gone", "deprecated", None, frozenset({"b"})),
    ConceptView(uuid.UUID(int=5), "c:x", labels=frozenset()),
]
TAXONOMY = TaxonomyView.of(CONCEPTS)
PATHS = ["a", "a", "a", "b", "tags", "tags[*]", "tags[0]", "c.x", "c.*", "c[*]"]
# Patterns in the common subset of RE2 (the engine) and Python re (the oracle below), whose
# semantics agree on ALPHABET and POOL (ASCII, no newlines).
PATTERNS = ["^a", "b$", "a+b", "(a+)+$", "(?i)^l", "[0-9]+", "LI", "a|B", r"\d\.5", "(a){2}"]
ALPHABET = "aAbB lLiI1.5"

# Records and rules draw from one small pool so that matches are common, not rare.
POOL = ["li", "LI", "LinkedIn", " linkedin ", "ab", "a", "AB", "e  mail", "b", "aab", "Aa"]
POOL += ["1", "1.5", "2.5", "10", "-1", "", " ", "lib", "bab", "l", "true"]
pooled = st.sampled_from(POOL)
texts = st.one_of(pooled, pooled, pooled, st.text(alphabet=ALPHABET, max_size=5))
scalars = st.one_of(
    texts,
    texts,
    st.integers(-2, 10),
    st.sampled_from([0.5, 1.0, 2.5, -1.5, 1e3, True, False, None]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.fixed_dictionaries({"x": scalars}))
records = st.fixed_dictionaries(
    {"a": st.one_of(scalars, st.lists(scalars, max_size=3)), "tags": st.lists(scalars, max_size=3)},
    optional={"b": values, "c": st.fixed_dictionaries({"x": scalars})},
)
# Scopes and rule fields are skewed so that most rules apply and collide often.
scopes = st.builds(
    Scope,
    st.sampled_from(["hubspot"] * 9 + ["sf"]),
    st.sampled_from([None, "deals", "deals", "contacts"]),
    st.sampled_from([None, uuid.UUID(int=7), uuid.UUID(int=7)]),
)
bounds = st.one_of(st.none(), st.integers(-2, 10), st.sampled_from([0.5, 2.5]))


@st.composite
def rule_values(draw: st.DrawFn, operator: str, texts: st.SearchStrategy[str]) -> tuple[Any, ...]:
    if operator == "exists":
        return ()
    if operator == "in":
        return tuple(draw(st.lists(scalars.filter(lambda v: v is not None), max_size=3)))
    if operator == "regex":
        return (draw(st.sampled_from(PATTERNS)),)
    if operator == "range":
        low, high = draw(bounds), draw(bounds)
        if low is not None and high is not None and low > high:
            low, high = high, low
        return (low, high)
    if operator == "equals":
        return (draw(scalars.filter(lambda v: v is not None)),)
    return (draw(texts.filter(str.strip)),)


@st.composite
def rule_views(draw: st.DrawFn, index: int, texts: st.SearchStrategy[str]) -> RuleView:
    operator = draw(
        st.sampled_from(["equals", "in", "prefix", "contains", "regex", "range", "exists"])
    )
    match_labels = draw(st.booleans())
    vals = draw(rule_values(operator, texts))
    if match_labels and draw(st.booleans()):
        vals = ()
    return RuleView(
        id=f"r{index:02d}",
        version=1,
        connector_key=draw(st.sampled_from(["hubspot"] * 9 + ["sf"])),
        stream=draw(st.sampled_from([None] * 6 + ["deals", "contacts"])),
        connection_id=draw(st.sampled_from([None] * 6 + [uuid.UUID(int=7), uuid.UUID(int=8)])),
        field_path=draw(st.sampled_from(PATHS)),
        operator=operator,
        values=vals,
        case_sensitive=draw(st.booleans()),
        match_labels=match_labels,
        concept_id=draw(st.sampled_from(CONCEPTS)).id,
        priority=draw(st.sampled_from([1, 5, 5, 5, 10])),
        enabled=draw(st.sampled_from([True] * 9 + [False])),
    )


@st.composite
def rule_lists(draw: st.DrawFn, texts: st.SearchStrategy[str] = texts) -> list[RuleView]:
    count = draw(st.integers(1, 16))
    return [draw(rule_views(i, texts)) for i in range(count)]


def naive_rule_matches(rule: RuleView, value: Any, taxonomy: TaxonomyView = TAXONOMY) -> bool:
    """One rule, one candidate, straight from the documented semantics."""
    raw = text_form(value)
    if rule.match_labels and raw is not None:
        original = taxonomy.concepts[rule.concept_id].labels
        target = taxonomy.effective(rule.concept_id)
        labels = original | (target.labels if target else frozenset())
        if normalise(raw, False) in labels:
            return True
    if rule.operator == "exists":
        return is_present(value)
    if not rule.values:
        return False
    if rule.operator == "range":
        number = number_form(value)
        low, high = rule.values
        return (
            number is not None
            and (low is None or low <= number)
            and (high is None or number <= high)
        )
    if raw is None:
        return False
    cs = rule.case_sensitive
    if rule.operator == "regex":
        return re.search(rule.values[0], raw, 0 if cs else re.IGNORECASE) is not None
    key = normalise(raw, cs)
    wanted = [normalise(t, cs) for t in map(text_form, rule.values) if t is not None]
    if rule.operator in ("equals", "in"):
        return key in wanted
    if rule.operator == "prefix":
        return key.startswith(wanted[0])
    return wanted[0] in key


def naive_evaluate(record: dict[str, Any], rules: list[RuleView], scope: Scope) -> list[Match]:
    best: dict[uuid.UUID, Match] = {}
    for rule in rules:
        target = TAXONOMY.effective(rule.concept_id)
        if not scope.admits(rule) or target is None:
            continue
        found = candidates(parse_field_path(rule.field_path).resolve(record))
        hit = next((v for v in found if naive_rule_matches(rule, v)), _NONE)
        if hit is _NONE:
            continue
        match = Match(
            target.id, target.key, rule.id, rule.version, rule.field_path, hit, rule.priority
        )
        current = best.get(target.id)
        if current is None or (-match.priority, match.rule_id) < (
            -current.priority,
            current.rule_id,
        ):
            best[target.id] = match
    return sorted(best.values(), key=lambda m: (-m.priority, m.concept_key))


_NONE = object()


@settings(max_examples=400, deadline=None)
@given(record=records, rules=rule_lists(), scope=scopes)
def test_compiled_rule_set_agrees_with_naive_evaluation(
    record: dict[str, Any], rules: list[RuleView], scope: Scope
) -> None:
    assert evaluate(record, rules, TAXONOMY, scope) == naive_evaluate(record, rules, scope)


@settings(max_examples=200, deadline=None)
@given(record=records, rules=rule_lists(), scope=scopes, data=st.data())
def test_result_does_not_depend_on_rule_order(
    record: dict[str, Any], rules: list[RuleView], scope: Scope, data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(rules))
    compiled = RuleSet.compile(rules, TAXONOMY, scope)
    first = compiled.evaluate(record)
    assert compiled.evaluate(record) == first
    assert evaluate(record, shuffled, TAXONOMY, scope) == first


@settings(max_examples=300, deadline=None)
@given(wanted=scalars.filter(lambda v: v is not None), value=scalars, case_sensitive=st.booleans())
def test_equals_matches_iff_normalised_texts_are_equal(
    wanted: Any, value: Any, case_sensitive: bool
) -> None:
    rule = RuleView(
        id="r",
        version=1,
        connector_key="hubspot",
        field_path="a",
        operator="equals",
        values=(wanted,),
        case_sensitive=case_sensitive,
        concept_id=CONCEPTS[4].id,
    )
    matched = bool(evaluate({"a": value}, [rule], TAXONOMY, Scope("hubspot")))
    wanted_text, value_text = text_form(wanted), text_form(value)
    expected = value_text is not None and normalise(value_text, case_sensitive) == normalise(
        str(wanted_text), case_sensitive
    )
    assert matched == expected


#: A tiny alphabet of nested prefixes and substrings, so that several text rules hit at once.
NESTED = st.sampled_from(["l", "li", "lib", "L", "LI", "a", "aa", "aab", "b", "ab", "1", "1.5"])


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(NESTED, st.lists(NESTED, max_size=3), scalars), rules=rule_lists(NESTED))
def test_every_rule_on_one_path_matches_as_the_naive_check_says(
    value: Any, rules: list[RuleView]
) -> None:
    # One concept per rule, so deduplication hides no rule; every rule reads "a" in scope.
    own = [
        replace(
            r,
            field_path="a",
            connector_key="hubspot",
            stream=None,
            connection_id=None,
            enabled=True,
            concept_id=uuid.UUID(int=100 + i),
        )
        for i, r in enumerate(rules)
    ]
    labels = [CONCEPTS[i % 2].labels for i in range(len(own))]
    taxonomy = TaxonomyView.of(
        [
            ConceptView(r.concept_id, f"k:{r.id}", labels=lab)
            for r, lab in zip(own, labels, strict=True)
        ]
    )
    found = {m.rule_id for m in evaluate({"a": value}, own, taxonomy, Scope("hubspot"))}
    reached = candidates([value])
    assert found == {r.id for r in own if any(naive_rule_matches(r, v, taxonomy) for v in reached)}
