"""Many range rules on one path are answered by a binary search over their bounds: it must
agree with checking every range, for any ranges (open bounds too) and any number."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from syncbridge.mapping.rule_index import CompiledRule, RangeStabbing
from syncbridge.mapping.views import ConceptView, RuleView

BOUND = st.one_of(st.none(), st.integers(-50, 50).map(float))


def _compiled(i: int) -> CompiledRule:
    concept = ConceptView(id=uuid.UUID(int=i + 1), key=f"c:{i}")
    rule = RuleView(
        id=f"r{i}",
        version=1,
        connector_key="k",
        field_path="amount",
        operator="range",
        concept_id=concept.id,
    )
    return CompiledRule(rule, concept, frozenset())


@settings(max_examples=300, deadline=None)
@given(
    bounds=st.lists(st.tuples(BOUND, BOUND), min_size=1, max_size=40),
    numbers=st.lists(st.integers(-60, 60).map(float) | st.floats(-60, 60), max_size=30),
)
def test_the_stabbing_index_agrees_with_a_scan(
    bounds: list[tuple[float | None, float | None]], numbers: list[float]
) -> None:
    ranges = [(low, high, _compiled(i)) for i, (low, high) in enumerate(bounds)]
    index = RangeStabbing(ranges)
    for number in numbers:
        scanned = {
            c.rule.id
            for low, high, c in ranges
            if (low is None or low <= number) and (high is None or number <= high)
        }
        assert {c.rule.id for c in index.covering(number)} == scanned
