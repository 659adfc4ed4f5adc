"""The pure core of classification (no database): which provenance wins a concept, what
changes against what is stored, and the reasons a person reads."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from syncbridge.classification.decide import (
    AssetInput,
    Change,
    CurrentRow,
    Provenance,
    RuleFact,
    Source,
    decide,
    explain,
)
from syncbridge.mapping.evaluate import RuleSet, RuleView, Scope, TaxonomyView
from syncbridge.mapping.views import ConceptView

DAM = Scope("bynder", "media", uuid.UUID(int=1))
CRM = Scope("hubspot", "campaigns", uuid.UUID(int=2))
EMAIL = ConceptView(uuid.UUID(int=10), "channel:email")
SOCIAL = ConceptView(uuid.UUID(int=11), "channel:social")
OLD = ConceptView(uuid.UUID(int=12), "channel:old", status="deprecated", replaced_by=EMAIL.id)
TAXONOMY = TaxonomyView.of([EMAIL, SOCIAL, OLD])
RULE_A, RULE_B = uuid.UUID(int=100), uuid.UUID(int=101)


def rule(
    rule_id: uuid.UUID,
    scope: Scope,
    path: str,
    value: str,
    concept: ConceptView,
    priority: int = 100,
    version: int = 1,
) -> RuleView:
    return RuleView(
        id=str(rule_id),
        version=version,
        connector_key=scope.connector_key,
        stream=scope.stream,
        field_path=path,
        operator="equals",
        values=(value,),
        concept_id=concept.id,
        priority=priority,
    )


def compiled(*rules: RuleView) -> dict[Scope, RuleSet]:
    return {scope: RuleSet.compile(list(rules), TAXONOMY, scope) for scope in (DAM, CRM)}


def asset(data: dict[str, object], *records: tuple[uuid.UUID, dict[str, object]]) -> AssetInput:
    return AssetInput(
        asset_id=uuid.UUID(int=500),
        deleted=False,
        own=Source(DAM, data),
        records=tuple(Source(CRM, d, record_id) for record_id, d in records),
    )


def reasons(
    changes: Sequence[Change], target: AssetInput, facts: dict[uuid.UUID, RuleFact]
) -> list[str]:
    return [c.reason for c in explain(changes, {target.asset_id: target}, TAXONOMY, facts)]


FACTS = {
    RULE_A: RuleFact("a", 1, 100, enabled=True, archived=False),
    RULE_B: RuleFact("b", 1, 50, enabled=True, archived=False),
}


def test_the_higher_priority_rule_wins_whatever_the_source() -> None:
    rules = compiled(
        rule(RULE_A, DAM, "channel", "email", EMAIL, priority=10),
        rule(RULE_B, CRM, "medium", "email", EMAIL, priority=90),
    )
    record = uuid.UUID(int=7)
    target = asset({"channel": "email"}, (record, {"medium": "email"}))
    [change] = decide([target], [], rules)
    assert (change.change, change.provenance.rule_id, change.provenance.record_id) == (
        "added",
        RULE_B,
        record,
    )


def test_one_rule_on_the_asset_and_on_records_prefers_the_asset_then_the_lower_record() -> None:
    both = Scope("bynder", "media", uuid.UUID(int=1))
    rules = {
        both: RuleSet.compile([rule(RULE_A, both, "k", "v", EMAIL)], TAXONOMY, both),
        CRM: RuleSet.compile([rule(RULE_A, CRM, "k", "v", EMAIL)], TAXONOMY, CRM),
    }
    low, high = uuid.UUID(int=3), uuid.UUID(int=9)
    [on_records] = decide([asset({}, (high, {"k": "v"}), (low, {"k": "v"}))], [], rules)
    [on_asset] = decide([asset({"k": "v"}, (low, {"k": "v"}))], [], rules)
    assert on_records.provenance.record_id == low
    assert on_asset.provenance.record_id is None


def test_a_deprecated_target_lands_on_its_replacement() -> None:
    [change] = decide([asset({"k": "v"})], [], compiled(rule(RULE_A, DAM, "k", "v", OLD)))
    assert change.concept_id == EMAIL.id


def test_what_is_stored_already_is_no_change() -> None:
    target = asset({"k": "v"})
    rules = compiled(rule(RULE_A, DAM, "k", "v", EMAIL))
    stored = Provenance(RULE_A, 1, None, "k", "v", run_id=uuid.uuid4())
    row = CurrentRow(uuid.uuid4(), target.asset_id, EMAIL.id, stored)
    assert decide([target], [row], rules) == []


def test_reasons_name_the_cause_of_each_removal() -> None:
    target = asset({"k": "other"})
    stored = Provenance(RULE_A, 1, None, "k", "v")
    row = CurrentRow(uuid.uuid4(), target.asset_id, EMAIL.id, stored)
    removals = decide([target], [row], compiled(rule(RULE_A, DAM, "k", "v", EMAIL, version=2)))
    newer = {**FACTS, RULE_A: RuleFact("a", 2, 100, enabled=True, archived=False)}
    disabled = {**FACTS, RULE_A: RuleFact("a", 2, 100, enabled=False, archived=False)}
    archived = {**FACTS, RULE_A: RuleFact("a", 2, 100, enabled=True, archived=True)}
    assert reasons(removals, target, newer) == ["rule 'a' v2 no longer matches (was v1)"]
    assert reasons(removals, target, disabled) == ["rule 'a' disabled"]
    assert reasons(removals, target, archived) == ["rule 'a' archived"]
    assert reasons(removals, target, {}) == [f"rule {RULE_A} no longer exists"]
    on_old = CurrentRow(uuid.uuid4(), target.asset_id, OLD.id, stored)
    assert reasons(decide([target], [on_old], {}), target, FACTS) == [
        "concept 'channel:old' deprecated; replaced by 'channel:email'"
    ]
    gone = AssetInput(target.asset_id, True, target.own)
    assert reasons(decide([gone], [row], {}), gone, FACTS) == ["asset deleted"]


def test_a_change_of_provenance_says_what_now_holds_and_why() -> None:
    target = asset({"a": "x", "b": "y"})
    stored = Provenance(RULE_B, 1, None, "b", "y")
    row = CurrentRow(uuid.uuid4(), target.asset_id, EMAIL.id, stored)
    rules = compiled(
        rule(RULE_A, DAM, "a", "x", EMAIL, priority=100), rule(RULE_B, DAM, "b", "y", EMAIL, 50)
    )
    [change] = decide([target], [row], rules)
    assert change.change == "changed"
    assert reasons([change], target, FACTS) == [
        "now from rule 'a' v1 (a = \"x\"); rule 'b' v1 outranked"
    ]
