"""Evaluating rules against records: operators, scope, labels, priority, deprecation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from syncbridge.mapping.evaluate import (
    ConceptView,
    Match,
    RuleSet,
    RuleView,
    Scope,
    TaxonomyView,
    evaluate,
)

LINKEDIN = ConceptView(
    id=uuid.UUID(int=1),
    key="channel:linkedin",
    labels=frozenset({"linkedin ads", "linkedin", "li"}),
    pref_label="LinkedIn Ads",
    scheme_key="channel",
)
EMAIL = ConceptView(id=uuid.UUID(int=2), key="channel:email", labels=frozenset({"email"}))
SOCIAL = ConceptView(id=uuid.UUID(int=3), key="channel:social", labels=frozenset({"social"}))
OLD = ConceptView(
    id=uuid.UUID(int=4),
    key="channel:old-li",
    status="deprecated",
    replaced_by=LINKEDIN.id,
    labels=frozenset({"linked in"}),
)
GONE = ConceptView(id=uuid.UUID(int=5), key="channel:gone", status="deprecated")
TAXONOMY = TaxonomyView.of([LINKEDIN, EMAIL, SOCIAL, OLD, GONE])
SCOPE = Scope("hubspot", "deals")


def rule(operator: str, values: tuple[Any, ...] = (), path: str = "source", **kw: Any) -> RuleView:
    fields: dict[str, Any] = {
        "id": "r1",
        "version": 1,
        "connector_key": "hubspot",
        "field_path": path,
        "operator": operator,
        "values": values,
        "concept_id": LINKEDIN.id,
    }
    return RuleView(**(fields | kw))


def keys(record: dict[str, Any], *rules: RuleView, scope: Scope = SCOPE) -> list[str]:
    return [m.concept_key for m in evaluate(record, list(rules), TAXONOMY, scope)]


@pytest.mark.parametrize(
    ("operator", "values", "value", "hit"),
    [
        ("equals", ("linkedin",), "LinkedIn", True),
        ("equals", ("linkedin",), "linkedin ads", False),
        ("equals", ("paid  social",), " Paid Social ", True),
        ("in", ("li", "lnkd"), "LNKD", True),
        ("in", ("li", "lnkd"), "lnk", False),
        ("prefix", ("utm_",), "UTM_linkedin", True),
        ("prefix", ("utm_",), "x_utm_", False),
        ("contains", ("linked",), "paid-LinkedIn-q3", True),
        ("contains", ("linked",), "link", False),
        ("regex", (r"^li(nkedin)?$",), "LinkedIn", True),
        ("regex", (r"^li$",), "lift", False),
        ("range", (10, 20), 10, True),
        ("range", (10, 20), "20", True),
        ("range", (10, 20), 20.5, False),
        ("range", (None, 0), -3, True),
        ("range", (5, None), "1e3", True),
        ("range", (0, 1), True, False),
        ("range", (0, 10), "ten", False),
        ("exists", (), "x", True),
        ("exists", (), "", False),
        ("exists", (), None, False),
        ("equals", ("42",), 42, True),
        ("equals", ("3",), 3.0, True),
        ("equals", ("true",), True, True),
        ("equals", (7,), "7", True),
    ],
)
def test_operators(operator: str, values: tuple[Any, ...], value: Any, hit: bool) -> None:
    assert keys({"source": value}, rule(operator, values)) == (["channel:linkedin"] if hit else [])


def test_case_sensitive_rules_compare_exactly() -> None:
    for operator in ("equals", "prefix", "contains", "regex"):
        strict = rule(operator, ("Li",), case_sensitive=True)
        assert keys({"source": "Li"}, strict) == ["channel:linkedin"], operator
        assert keys({"source": "li"}, strict) == [], operator


def test_each_item_of_a_list_value_is_tested() -> None:
    found = evaluate(
        {"tags": ["x", "LinkedIn", "li"]}, [rule("equals", ("li",), "tags")], TAXONOMY, SCOPE
    )
    assert [m.matched_value for m in found] == ["li"]
    assert keys({"tags": [1, 2, 3]}, rule("range", (3, 3), "tags")) == ["channel:linkedin"]


def test_wildcard_paths_reach_nested_values() -> None:
    record = {"items": [{"name": "Email"}, {"name": "LinkedIn"}]}
    assert keys(record, rule("equals", ("linkedin",), "items[*].name")) == ["channel:linkedin"]
    assert keys(record, rule("equals", ("linkedin",), "items[0].name")) == []


def test_missing_paths_match_nothing_not_even_exists() -> None:
    assert keys({"other": 1}, rule("exists", path="source")) == []
    assert keys({"source": {"nested": 1}}, rule("equals", ("1",), "source")) == []
    assert keys({"source": []}, rule("exists")) == []


@pytest.mark.parametrize("value", ["LinkedIn Ads", "linkedin", "LI", "  linkedin  ads "])
def test_match_labels_lands_every_label_on_the_concept(value: str) -> None:
    labels_only = rule("in", (), match_labels=True)
    assert keys({"source": value}, labels_only) == ["channel:linkedin"]


def test_match_labels_adds_to_the_values() -> None:
    both = rule("equals", ("lnkd",), match_labels=True)
    assert keys({"source": "lnkd"}, both) == ["channel:linkedin"]
    assert keys({"source": "LI"}, both) == ["channel:linkedin"]
    assert keys({"source": "email"}, both) == []


def test_one_match_per_concept_from_the_highest_priority_rule() -> None:
    low = rule("equals", ("li",), id="a-low", priority=10)
    high = rule("prefix", ("l",), id="z-high", priority=90)
    email = rule("exists", (), id="e", priority=50, concept_id=EMAIL.id)
    found = evaluate({"source": "li"}, [low, email, high], TAXONOMY, SCOPE)
    assert [(m.concept_key, m.rule_id) for m in found] == [
        ("channel:linkedin", "z-high"),
        ("channel:email", "e"),
    ]


def test_priority_ties_go_to_the_lower_rule_id() -> None:
    first = rule("equals", ("li",), id="b")
    second = rule("equals", ("li",), id="a")
    assert [m.rule_id for m in evaluate({"source": "li"}, [first, second], TAXONOMY, SCOPE)] == [
        "a"
    ]


def test_equal_priorities_sort_by_concept_key() -> None:
    rules = [
        rule("exists", id=str(i), concept_id=c.id) for i, c in enumerate([SOCIAL, LINKEDIN, EMAIL])
    ]
    assert keys({"source": "x"}, *rules) == ["channel:email", "channel:linkedin", "channel:social"]


def test_disabled_rules_do_not_match() -> None:
    assert keys({"source": "li"}, rule("equals", ("li",), enabled=False)) == []


@pytest.mark.parametrize(
    ("scope_fields", "hit"),
    [
        ({"connector_key": "salesforce"}, False),
        ({"stream": "contacts"}, False),
        ({"stream": "deals"}, True),
        ({"stream": None}, True),
        ({"connection_id": uuid.UUID(int=9)}, True),
        ({"connection_id": uuid.UUID(int=8)}, False),
    ],
)
def test_scope(scope_fields: dict[str, Any], hit: bool) -> None:
    scope = Scope("hubspot", "deals", uuid.UUID(int=9))
    scoped = rule("equals", ("li",), **scope_fields)
    assert keys({"source": "li"}, scoped, scope=scope) == (["channel:linkedin"] if hit else [])


def test_deprecated_concept_yields_its_replacement() -> None:
    found = evaluate(
        {"source": "li"}, [rule("equals", ("li",), concept_id=OLD.id)], TAXONOMY, SCOPE
    )
    assert found == [Match(LINKEDIN.id, "channel:linkedin", "r1", 1, "source", "li", priority=100)]


def test_labels_of_a_deprecated_original_still_match() -> None:
    labels_only = rule("in", (), concept_id=OLD.id, match_labels=True)
    assert keys({"source": "Linked In"}, labels_only) == ["channel:linkedin"]
    assert keys({"source": "LI"}, labels_only) == ["channel:linkedin"]


def test_deprecated_concept_without_replacement_yields_nothing() -> None:
    assert keys({"source": "li"}, rule("equals", ("li",), concept_id=GONE.id)) == []


def test_a_compiled_rule_set_is_reusable_and_checks_its_scope() -> None:
    compiled = RuleSet.compile([rule("equals", ("li",))], TAXONOMY, SCOPE)
    assert [m.concept_key for m in evaluate({"source": "LI"}, compiled, TAXONOMY)] == [
        "channel:linkedin"
    ]
    assert evaluate({"source": "x"}, compiled, TAXONOMY) == []
    with pytest.raises(ValueError, match="scope"):
        evaluate({}, compiled, TAXONOMY, Scope("salesforce"))
    with pytest.raises(ValueError, match="scope is needed"):
        evaluate({}, [rule("exists")], TAXONOMY)


def test_first_matching_value_in_path_order_is_reported() -> None:
    found = evaluate({"tags": ["lift", "lime"]}, [rule("prefix", ("li",), "tags")], TAXONOMY, SCOPE)
    assert [m.matched_value for m in found] == ["lift"]


def test_regexes_with_groups_and_flags_still_work() -> None:
    # RE2 has no backreferences; a repeated group stands in for the old (a)\1 case.
    rules = [
        rule("regex", (r"(a){2}",), id="group"),
        rule("regex", (r"(?s)^x.y$",), id="flags", concept_id=EMAIL.id),
        rule("regex", (r"^zz",), id="plain", concept_id=SOCIAL.id),
    ]
    assert keys({"source": "bAa"}, *rules) == ["channel:linkedin"]
    assert keys({"source": "x\ny"}, *rules) == ["channel:email"]
    assert keys({"source": "ZZtop"}, *rules) == ["channel:social"]
